"""Helpers of the producer's integration tests: a simulator and a producer service in one event
loop, per-test topics on the session's real broker, and reading the topics back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

from config import KafkaSettings, ProducerSettings, SimulatorSettings
from obm.stack.kafka_broker import create_topics
from producer.publisher import topic_names
from producer.service import ProducerOptions, ProducerService
from producer.simulator import ReplayOptions, Simulator


def isolated_kafka(kafka: KafkaSettings) -> KafkaSettings:
    """The session's broker with a topic prefix of this test's own; raw and DLQ topics created
    with one partition (records of all symbols in one total order, easy to read back)."""
    settings = kafka.model_copy(update={"topic_prefix": f"t{uuid.uuid4().hex[:10]}."})
    create_topics(settings, list(topic_names(settings)), partitions=1)
    return settings


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.02)


@asynccontextmanager
async def running(
    kafka: KafkaSettings,
    symbols: list[str],
    *,
    replay: ReplayOptions | None = None,
    rate: float = 50.0,
    options: ProducerOptions | None = None,
    start_producer: bool = True,
    **producer_settings: Any,
) -> AsyncIterator[tuple[Simulator, ProducerService]]:
    sim = Simulator(SimulatorSettings(host="127.0.0.1", port=0, symbols=symbols, seed=11, updates_per_second=rate),
                    replay)
    await sim.start()
    settings = ProducerSettings(symbols=symbols, ws_url=sim.ws_url, rest_url=sim.rest_url, metrics_port=0,
                                **producer_settings)
    opts = options or ProducerOptions()
    opts.validate_every = 1
    service = ProducerService(settings, kafka, opts)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop)) if start_producer else None
    try:
        if task is not None:
            await wait_until(lambda: service.http_port is not None or task.done(), 30, "producer start")
            if task.done():
                task.result()
        yield sim, service
    finally:
        stop.set()
        if task is not None:
            await asyncio.wait_for(task, 60)
        await sim.stop()


def read_topic(kafka: KafkaSettings, topic: str, timeout_s: float = 20.0) -> list[tuple[str | None, dict[str, Any]]]:
    """Every record of a one-partition topic, from the start to the end offset at call time."""
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap_servers, "group.id": f"read-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, 0)])
        out: list[tuple[str | None, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout_s
        while len(out) < high and time.monotonic() < deadline:
            for msg in consumer.consume(10_000, timeout=0.5):
                if msg.error():
                    continue
                key = msg.key().decode() if msg.key() else None
                out.append((key, orjson.loads(msg.value())))
        assert len(out) == high, f"read {len(out)} of {high} records of {topic}"
        return out
    finally:
        consumer.close()
