"""Kafka plumbing of the Flink integration tests: per-test topic prefixes, producing raw records
keyed like the producer does, and reading a topic until the expected records are there."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Producer

from config import KafkaSettings
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
    producer = Producer({"bootstrap.servers": kafka.bootstrap_servers, "linger.ms": 5})
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
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
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


def read_all(kafka: KafkaSettings, topic: Topic, timeout_s: float = 60.0) -> list[dict[str, Any]]:
    """Every record of every partition up to the end offsets at call time, key under `_key`."""
    from confluent_kafka import TopicPartition

    name = topic_name(kafka, topic)
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "group.id": f"test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1] for p in partitions}
        consumer.assign([TopicPartition(name, p, 0) for p in partitions])
        records: list[dict[str, Any]] = []
        read = dict.fromkeys(partitions, 0)
        deadline = time.monotonic() + timeout_s
        while any(read[p] < ends[p] for p in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name}: read {read} of {ends} in {timeout_s:.0f} s")
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            read[msg.partition()] = msg.offset() + 1
            rec = json.loads(msg.value())
            rec["_key"] = msg.key().decode() if msg.key() else None
            records.append(rec)
        return records
    finally:
        consumer.close()
