"""Kafka plumbing of the Flink integration tests: per-test topic prefixes, producing raw records
keyed like the producer does, and reading a topic until the expected records are there, at
read_committed like every consumer of the project (the jobs' sinks write in transactions)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from config import KafkaSettings
from config.clients import ISOLATION_LEVEL, consumer_config, producer_config
from flink_jobs.connectors import topic_name
from producer.publisher import create_topics_if_absent
from schemas import Topic, record_key


def isolated_kafka(kafka: KafkaSettings, topics: tuple[Topic, ...]) -> KafkaSettings:
    """The same broker with a topic prefix of this test's own, its topics created."""
    isolated = kafka.model_copy(update={"topic_prefix": f"t{uuid.uuid4().hex[:10]}."})
    create_topics_if_absent(isolated, [topic_name(isolated, t) for t in topics], partitions=3)
    return isolated


def produce(
    kafka: KafkaSettings, topic: Topic, records: list[dict[str, Any]], partition: int | None = None
) -> None:
    """Write the records keyed like the producer does, to the key's partition or to `partition`."""
    producer = Producer(producer_config(kafka, {"linger.ms": 5}))
    where = {} if partition is None else {"partition": partition}
    for rec in records:
        key = record_key(rec["exchange"], rec["symbol"])
        producer.produce(topic_name(kafka, topic), json.dumps(rec).encode(), key=key, **where)
    assert producer.flush(30) == 0


def consume_until(
    kafka: KafkaSettings,
    topic: Topic,
    done: Callable[[list[dict[str, Any]]], bool],
    timeout_s: float = 180.0,
) -> list[dict[str, Any]]:
    """Read the topic from the start until `done(records so far)`; returns the records with
    their Kafka key under `_key`."""
    consumer = Consumer(consumer_config(kafka, f"test-{uuid.uuid4().hex}", {"auto.offset.reset": "earliest"}))
    consumer.subscribe([topic_name(kafka, topic)])
    records: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while not done(records):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{topic_name(kafka, topic)}: only {len(records)} records in {timeout_s:.0f} s"
                )
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            rec = json.loads(msg.value())
            rec["_key"] = msg.key().decode() if msg.key() else None
            records.append(rec)
    finally:
        consumer.close()
    return records


def read_messages(
    kafka: KafkaSettings, topic: Topic, timeout_s: float = 60.0, isolation: str = ISOLATION_LEVEL
) -> list[Message]:
    """Every record of every partition up to the end offsets at call time, read at `isolation`
    (the project's read_committed; read_uncommitted shows what a reader that ignores transactions
    would see). A partition ends on a transaction marker, which is never delivered, so it is read
    when the consumer's position (which moves past markers) reaches its end offset."""
    name = topic_name(kafka, topic)
    consumer = Consumer(consumer_config(kafka, f"test-{uuid.uuid4().hex}", {"isolation.level": isolation}))
    try:
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1] for p in partitions}
        consumer.assign([TopicPartition(name, p, 0) for p in partitions])
        messages: list[Message] = []
        pending = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{name}: partitions {sorted(pending)} short of {ends} in {timeout_s:.0f} s"
                )
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                messages.append(msg)
            at = consumer.position([TopicPartition(name, p) for p in pending])
            pending -= {tp.partition for tp in at if tp.offset >= ends[tp.partition]}
        return messages
    finally:
        consumer.close()


def read_all(kafka: KafkaSettings, topic: Topic, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """Every committed record of every partition up to the end offsets at call time, key under `_key`."""
    records = []
    for msg in read_messages(kafka, topic, timeout_s):
        rec = json.loads(msg.value())
        rec["_key"] = msg.key().decode() if msg.key() else None
        records.append(rec)
    return records
