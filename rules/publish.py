"""Publishing rule versions to the compacted `rules.changes` topic, which the rules job follows.
Keyed by the rule id, so compaction keeps the latest version of each rule; every record is
checked against the topic's schema before it is sent."""

from __future__ import annotations

import json
from typing import Any, Protocol

from config import KafkaSettings
from config.clients import producer_config
from schemas import Topic, topic_name, validator_for

PUBLISH_TIMEOUT_S = 10.0


class NotPublished(RuntimeError):
    """A change is stored in PostgreSQL but the topic did not take it: the job does not see it
    until `obm rules publish` (publish_all) sends the rules again."""


class Publisher(Protocol):
    def publish(self, records: list[dict[str, Any]]) -> None: ...


class KafkaPublisher:
    """Sends rule records and waits until the broker has them (a change is live only then)."""

    def __init__(self, kafka: KafkaSettings) -> None:
        from confluent_kafka import Producer

        self._producer = Producer(producer_config(kafka))
        self._topic = topic_name(Topic.RULES, kafka.topic_prefix)
        self._validate = validator_for(Topic.RULES)

    def publish(self, records: list[dict[str, Any]]) -> None:
        errors: list[str] = []

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        for record in records:
            self._validate(record)
            self._producer.produce(
                self._topic, key=str(record["rule_id"]).encode(), value=json.dumps(record).encode(),
                on_delivery=delivered,
            )  # fmt: skip
        left = self._producer.flush(PUBLISH_TIMEOUT_S)
        if errors or left:
            raise NotPublished(
                f"stored, but {self._topic} did not take the change ({'; '.join(errors) or f'{left} unsent'}); "
                "the running job has not seen it: run `obm rules publish` once Kafka is reachable"
            )
