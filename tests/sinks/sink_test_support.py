"""Helpers for the sink tests (fixtures in conftest.py): per-test topics (a unique prefix), record factories with a unique
exchange name per test (so row counts in the shared database are the test's own), and a way to run
a sink as a real process (`python -m sinks ...`) or in a thread."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from config import KafkaSettings, PostgresSettings, RedisSettings
from config.clients import consumer_config, producer_config
from obm.stack.health import free_port
from schemas.topics import Topic, topic_name
from sinks.consume_loop import ConsumeLoop

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# An alert's context as the adaptive alerts engine writes it (docs/alerts.md "Context").
ALERT_CONTEXT: dict[str, Any] = {
    "profile": "adaptive", "score": -27.4, "value": -0.8712, "baseline_mean": 0.0312, "baseline_std": 0.6021,
    "percentile": 0.036, "baseline_rms": None, "depth_notional_10bps": 397861.67,
    "book": {"mid": 2612.355, "best_bid": 2612.35, "best_ask": 2612.36, "best_bid_size": 1.25,
             "best_ask_size": 34.5, "spread_bps": 0.0383, "depth_bid_10bps": 120.4, "depth_ask_10bps": 31.9,
             "depth_bid_50bps": 1830.0, "depth_ask_50bps": 2411.0},
}  # fmt: skip


@dataclass
class SinkTestEnv:
    kafka: KafkaSettings
    exchange: str  # unique per test: every record of the test carries it
    # The factories' default event times start here: three hours before the test, well within every
    # topic's retention (the oldest event time the sinks accept) and behind the sinks' clock.
    base_ms: int = field(default_factory=lambda: int(time.time() * 1000) - 3 * 3_600_000)
    _producer: Producer | None = field(default=None, repr=False)

    def topic(self, t: Topic) -> str:
        return topic_name(t, self.kafka.topic_prefix)

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(producer_config(self.kafka, {"linger.ms": 5}))
        return self._producer

    def produce(self, t: Topic, value: dict[str, Any] | bytes, key: str | None = None) -> None:
        data = value if isinstance(value, bytes) else orjson.dumps(value)
        if key is None and isinstance(value, dict) and "symbol" in value:
            key = f"{value.get('exchange')}:{value['symbol']}"
        while True:
            try:
                self.producer.produce(self.topic(t), value=data, key=key)
                return
            except BufferError:
                self.producer.poll(0.1)

    def flush(self) -> None:
        assert self.producer.flush(30) == 0

    def read_topic(
        self, t: Topic, timeout_s: float = 20.0, expect: int = 1
    ) -> list[tuple[bytes | None, bytes]]:
        """Every committed record of a topic (read_committed), waiting for at least `expect`."""
        c = Consumer(consumer_config(self.kafka, f"reader-{uuid.uuid4().hex}"))
        name = self.topic(t)
        parts = c.list_topics(name, timeout=10).topics[name].partitions
        c.assign([TopicPartition(name, p, 0) for p in parts])
        out: list[tuple[bytes | None, bytes]] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for m in c.consume(500, timeout=0.5):
                if not m.error():
                    out.append((m.key(), m.value()))
            if len(out) >= expect:
                # one more short read for stragglers
                out += [(m.key(), m.value()) for m in c.consume(500, timeout=1.0) if not m.error()]
                break
        c.close()
        return out

    # -- record factories (valid per schema) ---------------------------------------------------
    def processed(self, seq: int, symbol: str = "BTCUSDT", event_time: int | None = None) -> dict[str, Any]:
        et = event_time if event_time is not None else self.base_ms + seq
        mid = 60_000.0 + (seq % 100) * 0.5
        return {
            "schema_version": 1, "exchange": self.exchange, "market": "spot", "symbol": symbol,
            "event_time": et, "receive_time_ns": et * 1_000_000 + 7, "sequence_id": seq,
            "best_bid": mid - 0.5, "best_ask": mid + 0.5, "best_bid_size": 1.5, "best_ask_size": 2.0,
            "mid": mid, "spread": 1.0, "spread_bps": 0.17, "imbalance_1": 0.1, "imbalance_5": -0.2,
            "imbalance_10": 0.05, "imbalance_20": None, "depth_complete_10bps": True, "crossed": False,
        }  # fmt: skip

    def bar(self, window_start: int, symbol: str = "BTCUSDT", interval: str = "1s") -> dict[str, Any]:
        width = 1000 if interval == "1s" else 60_000
        return {
            "schema_version": 1, "exchange": self.exchange, "market": "spot", "symbol": symbol,
            "interval": interval, "window_start": window_start, "window_end": window_start + width,
            "mid_open": 100.0, "mid_high": 101.0, "mid_low": 99.5, "mid_close": 100.5,
            "imbalance_mean": 0.1, "update_count": 10,
        }  # fmt: skip

    def alert(self, n: int, symbol: str = "BTCUSDT", event_time: int | None = None,
              context: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        """An alert; with `context` (e.g. ALERT_CONTEXT) it carries why it fired, else it has none
        (as alerts written before the field existed)."""
        et = event_time if event_time is not None else self.base_ms + n * 1000
        record = {
            "schema_version": 1, "alert_id": f"imbalance_extreme:{self.exchange}:{symbol}:{et}:high",
            "alert_type": "imbalance_extreme", "severity": "high", "exchange": self.exchange, "market": "spot",
            "symbol": symbol, "metric_value": 0.74, "threshold": 0.7, "window_start": et - 1100,
            "window_end": et, "event_time": et, "message": f"{symbol} imbalance alert {n}",
        }  # fmt: skip
        return record if context is None else {**record, "context": context}

    def raw(self, seq: int, event_time: int, symbol: str = "BTCUSDT") -> dict[str, Any]:
        return {
            "schema_version": 1, "exchange": self.exchange, "market": "spot", "symbol": symbol,
            "event_time": event_time, "receive_time_ns": event_time * 1_000_000, "sequence_id": seq,
            "prev_sequence_id": seq - 1 if seq else None,
            "bid_prices": [100.0, 99.5], "bid_sizes": [1.0, float(seq % 7 + 1)],
            "ask_prices": [100.5, 101.0], "ask_sizes": [2.0, 3.0], "resynced": seq == 0, "crossed": False,
        }  # fmt: skip


def sink_process_env(env: SinkTestEnv, pg: PostgresSettings | None = None, rs: RedisSettings | None = None,
                     batch_max_records: int = 500) -> dict[str, str]:  # fmt: skip
    """Environment of a `python -m sinks` process for this test (own group, own metrics port)."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("OBM_")}
    e.update({
        "PYTHONPATH": REPO_ROOT,
        "OBM_KAFKA_BOOTSTRAP_SERVERS": env.kafka.bootstrap_servers,
        "OBM_KAFKA_TOPIC_PREFIX": env.kafka.topic_prefix,
        "OBM_SINK_POSTGRES_GROUP": f"pg-{env.exchange}",
        "OBM_SINK_REDIS_GROUP": f"redis-{env.exchange}",
        "OBM_SINK_BATCH_MAX_RECORDS": str(batch_max_records),
        "OBM_SINK_BATCH_MAX_MS": "100",
        "OBM_SINK_POSTGRES_METRICS_PORT": str(free_port()),
        "OBM_SINK_REDIS_METRICS_PORT": str(free_port()),
    })  # fmt: skip
    if pg is not None:
        e.update({"OBM_PG_HOST": pg.host, "OBM_PG_PORT": str(pg.port), "OBM_PG_USER": pg.user,
                  "OBM_PG_PASSWORD": pg.password.get_secret_value(), "OBM_PG_DATABASE": pg.database})  # fmt: skip
    if rs is not None:
        e.update(
            {"OBM_REDIS_HOST": rs.host, "OBM_REDIS_PORT": str(rs.port), "OBM_REDIS_KEY_PREFIX": rs.key_prefix}
        )
    return e


def start_sink_process(kind: str, env: dict[str, str], log_path: str) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "sinks", kind], env=env, cwd=REPO_ROOT,
                                stdout=log, stderr=subprocess.STDOUT)  # fmt: skip


@dataclass
class ThreadedSink:
    loop: ConsumeLoop
    thread: threading.Thread
    errors: list[BaseException]

    def stop(self) -> None:
        self.loop.request_stop()
        self.thread.join(60)
        assert not self.thread.is_alive(), "sink did not stop"
        assert not self.errors, self.errors


def wait_for(what: str, cond: Callable[[], Any], timeout_s: float = 60.0, every_s: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(every_s)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
