"""Fixtures of the sink tests: per-test topics and a sink run in a thread (helpers in
sink_test_support)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sink_test_support import SinkTestEnv, ThreadedSink

from config import KafkaSettings, SinkSettings
from producer.publisher import create_topics_if_absent
from schemas.topics import ALL_TOPICS, topic_name
from sinks.launch import build_loop


@pytest.fixture
def sink_env(kafka_settings: KafkaSettings) -> SinkTestEnv:
    tag = uuid.uuid4().hex[:10]
    kafka = kafka_settings.model_copy(update={"topic_prefix": f"t{tag}."})
    create_topics_if_absent(kafka, [topic_name(t, kafka.topic_prefix) for t in ALL_TOPICS], partitions=3)
    return SinkTestEnv(kafka=kafka, exchange=f"x{tag}")


@pytest.fixture
def run_sink_thread() -> Iterator[Callable[..., ThreadedSink]]:
    started: list[ThreadedSink] = []

    def start(kind: str, env: SinkTestEnv, **settings: Any) -> ThreadedSink:
        ss = SinkSettings(postgres_group=f"pg-{env.exchange}", redis_group=f"redis-{env.exchange}",
                          batch_max_records=500, batch_max_ms=100)  # fmt: skip
        loop = build_loop(kind, kafka=env.kafka, sink_settings=ss, **settings)
        errors: list[BaseException] = []

        def body() -> None:
            try:
                loop.run()
            except BaseException as exc:  # noqa: BLE001 - surfaced by stop()
                errors.append(exc)

        t = threading.Thread(target=body, name=f"sink-{kind}", daemon=True)
        t.start()
        ts = ThreadedSink(loop, t, errors)
        started.append(ts)
        return ts

    yield start
    for ts in started:
        if ts.thread.is_alive():
            ts.loop.request_stop()
            ts.thread.join(30)
