"""Fixtures of the gateway tests: per-test topics on the session's Kafka (a unique prefix), the
session's Redis, record factories with a per-test exchange name, and a gateway run in a thread of
its own (its event loop), on a free port."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from config import KafkaSettings, RedisSettings
from config.clients import producer_config
from config.settings import GatewaySettings
from gateway.metrics import GatewayMetrics
from gateway.protocol import Channel
from gateway.server import Gateway
from producer.publisher import create_topics_if_absent
from schemas.topics import ALL_TOPICS, record_key, topic_name


@dataclass
class GatewayTestEnv:
    kafka: KafkaSettings
    redis: RedisSettings
    exchange: str  # unique per test
    _producer: Producer | None = field(default=None, repr=False)

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(producer_config(self.kafka, {"linger.ms": 2}))
        return self._producer

    def produce(self, channel: Channel, record: dict[str, Any] | bytes, key: str | None = None) -> None:
        value = record if isinstance(record, bytes) else orjson.dumps(record)
        if key is None and isinstance(record, dict):
            key = record_key(record["exchange"], record["symbol"])
        while True:
            try:
                self.producer.produce(
                    topic_name(channel.topic, self.kafka.topic_prefix), value=value, key=key
                )
                return
            except BufferError:
                self.producer.poll(0.1)

    def flush(self) -> None:
        assert self.producer.flush(30) == 0

    # -- records valid per schema, dated now ----------------------------------------------------
    def book(
        self, seq: int, symbol: str = "BTCUSDT", levels: int = 20, exchange: str | None = None
    ) -> dict[str, Any]:
        now = int(time.time() * 1000)
        return {
            "schema_version": 1, "exchange": exchange or self.exchange, "market": "spot", "symbol": symbol,
            "event_time": now, "receive_time_ns": now * 1_000_000, "sequence_id": seq,
            "prev_sequence_id": seq - 1 if seq else None,
            "bid_prices": [100.0 - i * 0.5 for i in range(levels)], "bid_sizes": [1.0 + seq % 7] * levels,
            "ask_prices": [100.5 + i * 0.5 for i in range(levels)], "ask_sizes": [2.0] * levels,
            "resynced": seq == 0, "crossed": False,
        }  # fmt: skip

    def processed(self, seq: int, symbol: str = "BTCUSDT", exchange: str | None = None) -> dict[str, Any]:
        now = int(time.time() * 1000)
        return {
            "schema_version": 1, "exchange": exchange or self.exchange, "market": "spot", "symbol": symbol,
            "event_time": now, "receive_time_ns": now * 1_000_000, "sequence_id": seq,
            "best_bid": 99.5, "best_ask": 100.5, "best_bid_size": 1.5, "best_ask_size": 2.0,
            "mid": 100.0, "spread": 1.0, "spread_bps": 100.0, "imbalance_1": 0.1, "imbalance_5": -0.2,
            "imbalance_10": 0.05, "imbalance_20": None, "depth_complete_10bps": True, "crossed": False,
        }  # fmt: skip

    def bar(self, window_start: int, interval: str = "1s", symbol: str = "BTCUSDT") -> dict[str, Any]:
        width = 1000 if interval == "1s" else 60_000
        return {
            "schema_version": 1, "exchange": self.exchange, "market": "spot", "symbol": symbol,
            "interval": interval, "window_start": window_start, "window_end": window_start + width,
            "mid_open": 100.0, "mid_high": 101.0, "mid_low": 99.5, "mid_close": 100.5, "update_count": 10,
        }  # fmt: skip

    def alert(self, n: int, symbol: str = "BTCUSDT") -> dict[str, Any]:
        now = int(time.time() * 1000)
        return {
            "schema_version": 1, "alert_id": f"imbalance_extreme:{self.exchange}:{symbol}:{now}:{n}",
            "alert_type": "imbalance_extreme", "severity": "high", "exchange": self.exchange, "market": "spot",
            "symbol": symbol, "metric_value": 0.74, "threshold": 0.7, "window_start": now - 1100,
            "window_end": now, "event_time": now, "message": f"{symbol} imbalance alert {n}",
        }  # fmt: skip


@dataclass
class RunningGateway:
    gateway: Gateway
    loop: asyncio.AbstractEventLoop
    stop_event: asyncio.Event
    thread: threading.Thread
    errors: list[BaseException]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.gateway.port}"

    @property
    def metrics(self) -> GatewayMetrics:
        return self.gateway.metrics

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stop_event.set)
            self.thread.join(30)
        assert not self.thread.is_alive(), "the gateway did not stop"


@pytest.fixture
def gw_env(kafka_settings: KafkaSettings, redis_settings: RedisSettings) -> GatewayTestEnv:
    tag = uuid.uuid4().hex[:10]
    kafka = kafka_settings.model_copy(update={"topic_prefix": f"g{tag}."})
    create_topics_if_absent(kafka, [topic_name(t, kafka.topic_prefix) for t in ALL_TOPICS], partitions=3)
    redis = redis_settings.model_copy(update={"key_prefix": f"g{tag}"})
    return GatewayTestEnv(kafka=kafka, redis=redis, exchange=f"x{tag}")


@pytest.fixture
def start_gateway(gw_env: GatewayTestEnv) -> Iterator[Callable[..., RunningGateway]]:
    started: list[RunningGateway] = []

    def start(**overrides: Any) -> RunningGateway:
        settings = GatewaySettings(**{"host": "127.0.0.1", "port": 0, "profile": "local", **overrides})
        gateway = Gateway(settings, gw_env.kafka, gw_env.redis)
        loop = asyncio.new_event_loop()
        stop_event = asyncio.Event()
        ready = threading.Event()
        errors: list[BaseException] = []

        async def main() -> None:
            started_event = asyncio.Event()
            task = asyncio.create_task(gateway.run(stop_event, started_event))
            done = asyncio.create_task(started_event.wait())
            await asyncio.wait({task, done}, return_when=asyncio.FIRST_COMPLETED)
            done.cancel()
            ready.set()
            await task

        def body() -> None:
            try:
                loop.run_until_complete(main())
            except BaseException as exc:  # noqa: BLE001 - surfaced by the test
                errors.append(exc)
                ready.set()
            finally:
                loop.close()

        thread = threading.Thread(target=body, name="gateway", daemon=True)
        thread.start()
        assert ready.wait(120), "the gateway did not start"
        assert not errors, errors
        running = RunningGateway(gateway, loop, stop_event, thread, errors)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
