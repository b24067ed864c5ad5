"""Helpers of the operator tests: records that match (or break) the contract, written to a topic."""

from __future__ import annotations

import copy
from typing import Any

import orjson
from click.testing import Result
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from config import KafkaSettings
from config.clients import client_config, producer_config
from schemas import Topic, load_schema


def example_record(topic: Topic, **changes: Any) -> dict[str, Any]:
    """The schema's own example, with fields changed (a valid record unless the change breaks it)."""
    record = copy.deepcopy(load_schema(topic)["examples"][0])
    record.update(changes)
    return record


def make_topic(settings: KafkaSettings, name: str, partitions: int) -> None:
    """A topic that keeps its records whatever their timestamps. The tests write records stamped
    in 2025 (T0) to check times; under the broker's retention (24 h) the next retention check, every
    5 minutes, deletes them, and a test whose produce and read straddled one lost its records: in a
    fresh-clone `make test` (2026-12-06) `obm tail -n 3` then waited for ever on a topic whose three
    partitions each had log start = end = 1."""
    admin = AdminClient(client_config(settings))
    topic = NewTopic(name, num_partitions=partitions, replication_factor=1, config={"retention.ms": "-1"})
    admin.create_topics([topic])[name].result(30)


def produce(
    settings: KafkaSettings,
    topic: str,
    records: list[tuple[str | None, Any, int]],
    partition: int | None = None,
) -> None:
    """Write (key, value, timestamp ms) records; dict values are JSON-encoded, bytes sent as is."""
    producer = Producer(producer_config(settings))
    for key, value, ts in records:
        payload = value if isinstance(value, bytes) or value is None else orjson.dumps(value)
        extra = {} if partition is None else {"partition": partition}
        producer.produce(topic, key=key, value=payload, timestamp=ts, **extra)
    assert producer.flush(30) == 0


def json_lines(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    return [orjson.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
