"""Kafka side of the producer: an idempotent, compressed confluent-kafka producer with delivery
callbacks and a bounded local queue.

Delivery reports come only for failures (`delivery.report.only.error`): a Python callback per
record cost ~1-2 µs of the hot path. Successes are counted from the queue instead: every record
handed to librdkafka is either still in its queue (`len(producer)`), failed (a report), or
delivered. When the queue is full, `produce` raises BufferError; we then serve the queue until
there is room and try again. That blocks the event loop, which stops reading the WebSocket, which lets
TCP push back on the exchange: records are delayed, never dropped. Each wait is counted.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from confluent_kafka import KafkaError, Message, Producer

from config import KafkaSettings
from config.clients import client_config, producer_config
from schemas import Topic, ValidationFailed, dlq_record, topic_name, validator_for

log = logging.getLogger(__name__)


def topic_names(
    kafka: KafkaSettings, raw_topic: str | None = None, dlq_topic: str | None = None
) -> tuple[str, str]:
    """The raw and DLQ topic names: explicit overrides, else the contract's names with the prefix."""
    return (
        raw_topic or topic_name(Topic.RAW, kafka.topic_prefix),
        dlq_topic or topic_name(Topic.DLQ, kafka.topic_prefix),
    )


class RecordPublisher:
    def __init__(
        self,
        kafka: KafkaSettings,
        raw_topic: str,
        dlq_topic: str,
        queue_max_messages: int = 100_000,
        client_id: str = "obm-producer",
        validate_every: int = 100,
        extra_config: dict[str, Any] | None = None,
    ) -> None:
        config: dict[str, Any] = {
            **producer_config(kafka),
            "client.id": client_id,
            "enable.idempotence": True,  # implies acks=all, no duplicates on retry, order kept
            "compression.type": "lz4",
            "linger.ms": 5,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": queue_max_messages,
            "queue.buffering.max.kbytes": 1_048_576,
            "on_delivery": self._on_delivery,
            "delivery.report.only.error": True,
        }
        config.update(extra_config or {})
        self._producer = Producer(config)
        self.raw_topic = raw_topic
        self.dlq_topic = dlq_topic
        self._validate = validator_for(Topic.RAW)
        self._validate_dlq = validator_for(Topic.DLQ)
        # trades.raw (producer/trades.py), under the deployment's prefix like every contract topic.
        self.trades_topic = topic_name(Topic.TRADES, kafka.topic_prefix)
        self._validate_trade = validator_for(Topic.TRADES)
        self.trades_produced = 0
        # Every record after a (re)sync is validated, and one in `validate_every` of the rest: the
        # schema check costs more than building the record, and records are valid by
        # construction (levels were validated on the way in), so sampling guards against
        # regressions without halving throughput. validate_every=1 checks all (tests do).
        self.validate_every = max(1, validate_every)
        self._until_check = 0
        self.produced = 0
        self.delivery_errors = 0
        self.dlq_produced = 0
        self.invalid_records = 0
        self.backpressure_waits = 0

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:  # only failures are reported (delivery.report.only.error)
            self.delivery_errors += 1
            log.error("delivery to %s failed: %s", msg.topic(), err)

    @property
    def delivered(self) -> int:
        """Records (raw, trades and DLQ) the broker acknowledged: handed over, minus still queued, minus
        failed. Exact once the queue is empty (after flush)."""
        handed = self.produced + self.trades_produced + self.dlq_produced
        return max(0, handed - len(self._producer) - self.delivery_errors)

    def publish_book(self, key: bytes, record: dict[str, Any], force_check: bool = False) -> bool:
        """Validate (sampled) and produce one orderbook.raw record. False if it was invalid (it
        then went to the DLQ instead)."""
        self._until_check -= 1
        if force_check or self._until_check <= 0:
            self._until_check = self.validate_every
            try:
                self._validate(record)
            except ValidationFailed as exc:
                self.invalid_records += 1
                self.publish_dlq(
                    dlq_record(
                        source="producer", reason=exc.reason, payload=orjson.dumps(record), key=key.decode()
                    )
                )
                return False
        self._produce(self.raw_topic, key, orjson.dumps(record))
        self.produced += 1
        return True

    def publish_book_json(self, key: bytes, payload: bytes, force_check: bool = False) -> bool:
        """publish_book for a record already serialized (by the native hot path): the same
        sampled schema check, on the parsed bytes."""
        self._until_check -= 1
        if force_check or self._until_check <= 0:
            self._until_check = self.validate_every
            try:
                self._validate(orjson.loads(payload))
            except ValidationFailed as exc:
                self.invalid_records += 1
                self.publish_dlq(
                    dlq_record(source="producer", reason=exc.reason, payload=payload, key=key.decode())
                )
                return False
        try:  # _produce, inlined: this is the native hot path's only other Python call
            self._producer.produce(self.raw_topic, payload, key)
        except BufferError:
            self._produce(self.raw_topic, key, payload)
        self.produced += 1
        return True

    def publish_trade(self, key: bytes, record: dict[str, Any]) -> bool:
        """Validate and produce one trades.raw record; False if it was invalid (it then went to
        the DLQ). Every trade is checked: they are built from checked text, but a trade is rarer
        than a book update and the check is cheap next to the frame's parsing."""
        try:
            self._validate_trade(record)
        except ValidationFailed as exc:
            self.invalid_records += 1
            self.publish_dlq(
                dlq_record(
                    source="producer", reason=exc.reason, payload=orjson.dumps(record), key=key.decode()
                )
            )
            return False
        self._produce(self.trades_topic, key, orjson.dumps(record))
        self.trades_produced += 1
        return True

    def publish_dlq(self, record: dict[str, Any]) -> None:
        self._validate_dlq(record)
        key = record["key"].encode() if record.get("key") else None
        self._produce(self.dlq_topic, key, orjson.dumps(record))
        self.dlq_produced += 1

    def _produce(self, topic: str, key: bytes | None, value: bytes) -> None:
        producer = self._producer
        while True:
            try:
                producer.produce(topic, value, key)
                return
            except BufferError:
                self.backpressure_waits += 1
                producer.poll(0.05)

    def poll(self, timeout: float = 0.0) -> int:
        """Serve delivery callbacks; call often (the feed does every few hundred records)."""
        return self._producer.poll(timeout)

    def queue_length(self) -> int:
        return len(self._producer)

    def flush(self, timeout_s: float = 10.0) -> int:
        """Wait for every queued record to be delivered; returns how many are still queued."""
        remaining = self._producer.flush(timeout_s)
        if remaining:
            log.error("%d records not delivered at shutdown after %.0fs", remaining, timeout_s)
        return remaining


def create_topics_if_absent(kafka: KafkaSettings, names: list[str], partitions: int = 1) -> None:
    """Create topics for tests and benchmarks (the stack's own topics come from the operator's
    policy table; this is for per-run names, where one partition keeps a single total order)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(client_config(kafka))
    existing = set(admin.list_topics(timeout=10).topics)
    todo = [
        NewTopic(n, num_partitions=partitions, replication_factor=kafka.replication_factor)
        for n in names
        if n not in existing
    ]
    for name, future in admin.create_topics(todo, operation_timeout=30).items() if todo else []:
        try:
            future.result()
        except Exception as exc:  # noqa: BLE001 - a concurrent creation is fine
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:  # wait for a leader before the first produce/read
            parts = admin.list_topics(name, timeout=5).topics[name].partitions
            if parts and all(p.leader >= 0 for p in parts.values()):
                break
            time.sleep(0.05)
