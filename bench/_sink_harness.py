"""Shared parts of the sink benchmarks: services in a temporary state folder (through the same
obm.stack code as `obm up`), realistic records, and an end-to-end run of a sink's consume loop."""

from __future__ import annotations

import cProfile
import pstats
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
from confluent_kafka import Producer

from config import KafkaSettings, SinkSettings, StackSettings
from obm.stack.health import free_port
from obm.stack.kafka_broker import KafkaBroker
from producer.publisher import create_topics_if_absent
from schemas.registry import load_schema
from schemas.topics import ALL_TOPICS, Topic
from sinks.batching import SinkRecord
from sinks.consume_loop import ConsumeLoop
from sinks.launch import build_loop

SYMBOLS = [f"SYM{i}USDT" for i in range(10)]


@contextmanager
def stack_dir() -> Iterator[StackSettings]:
    state = Path(tempfile.mkdtemp(prefix="obm-bench-"))
    state.chmod(0o755)
    try:
        yield StackSettings(state_dir=state, start_timeout_s=180)
    finally:
        shutil.rmtree(state, ignore_errors=True)


@contextmanager
def kafka(stack: StackSettings) -> Iterator[KafkaSettings]:
    settings = KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{free_port()}", controller_port=free_port(), partitions=3
    )
    broker = KafkaBroker(settings, stack)
    broker.start()
    create_topics_if_absent(settings, [t.value for t in ALL_TOPICS], partitions=3)
    try:
        yield settings
    finally:
        broker.stop()


def processed_values(n: int, start_seq: int = 0) -> list[tuple[str, bytes]]:
    """Full orderbook.processed records (every field set, as the metrics job emits them)."""
    rng = random.Random(1)
    props = [p for p in load_schema(Topic.PROCESSED)["properties"] if p != "schema_version"]
    base = int(time.time() * 1000) - n
    out = []
    for i in range(n):
        sym = SYMBOLS[i % len(SYMBOLS)]
        rec: dict[str, object] = {"schema_version": 1}
        for p in props:
            rec[p] = (
                rng.random() < 0.5
                if ("complete" in p or p in ("crossed", "resynced"))
                else rng.uniform(-1, 1)
            )
        rec.update(exchange="binance", market="spot", symbol=sym, event_time=base + i,
                   receive_time_ns=(base + i) * 1_000_000, sequence_id=start_seq + i)  # fmt: skip
        out.append((f"binance:{sym}", orjson.dumps(rec)))
    return out


def bar_values(n: int) -> list[tuple[str, bytes]]:
    """1 s bars of 10 symbols, consecutive windows."""
    base = (int(time.time()) - n) * 1000
    out = []
    for i in range(n):
        sym = SYMBOLS[i % len(SYMBOLS)]
        ws = base + (i // len(SYMBOLS)) * 1000
        out.append((f"binance:{sym}", orjson.dumps({
            "schema_version": 1, "exchange": "binance", "market": "spot", "symbol": sym, "interval": "1s",
            "window_start": ws, "window_end": ws + 1000, "mid_open": 100.0, "mid_high": 100.5, "mid_low": 99.5,
            "mid_close": 100.1, "imbalance_mean": 0.1, "imbalance_min": -0.2, "imbalance_max": 0.4,
            "spread_bps_mean": 0.5, "spread_bps_max": 0.9, "ofi_sum": 1.5, "update_count": 10,
            "microprice_last": 100.05})))  # fmt: skip
    return out


def as_records(topic: Topic, values: list[tuple[str, bytes]]) -> list[SinkRecord]:
    return [SinkRecord(topic, topic.value, 0, i, k.encode(), v, 0) for i, (k, v) in enumerate(values)]


def produce(settings: KafkaSettings, topic: Topic, values: list[tuple[str, bytes]]) -> None:
    p = Producer(
        {"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 20, "compression.type": "lz4"}
    )
    for k, v in values:
        while True:
            try:
                p.produce(topic.value, value=v, key=k)
                break
            except BufferError:
                p.poll(0.05)
    assert p.flush(60) == 0


@dataclass
class EndToEnd:
    """An end-to-end run: rates from the loop's start (group join and setup included) and in steady
    state (from the first committed batch to the last), plus records per CPU-second of this process
    (the sink's Python threads and librdkafka's; the store's server process is not in it)."""

    records: int
    from_start: float
    steady: float
    per_cpu_second: float


def run_end_to_end(
    kind: str, kafka_settings: KafkaSettings, expected: int, **store_settings: object
) -> EndToEnd:
    """Runs the sink's consume loop from an empty group until `expected` records are committed."""
    ss = SinkSettings(postgres_group=f"bench-{time.time_ns()}", redis_group=f"bench-{time.time_ns()}")
    loop: ConsumeLoop = build_loop(kind, kafka=kafka_settings, sink_settings=ss, **store_settings)  # type: ignore[arg-type]
    t = threading.Thread(target=loop.run, daemon=True)

    def consumed() -> float:
        return sum(loop.metrics.value("obm_sink_records_consumed_total", topic=tp.value) for tp in Topic)

    started, cpu_started = time.perf_counter(), time.process_time()
    t.start()
    first: tuple[float, float] | None = None
    while (done := consumed()) < expected:
        if first is None and loop.metrics.value("obm_sink_batches_total") > 0:
            first = (time.perf_counter(), done)
        time.sleep(0.02)
    ended, cpu = time.perf_counter(), time.process_time() - cpu_started
    loop.request_stop()
    t.join(60)
    first_t, first_n = first or (started, 0.0)
    steady = (expected - first_n) / (ended - first_t) if ended > first_t and expected > first_n else 0.0
    return EndToEnd(expected, expected / (ended - started), steady, expected / cpu)


@contextmanager
def profiled(enabled: bool, top: int = 25) -> Iterator[None]:
    """cProfile of the enclosed code, printed by internal time (the benches' --profile)."""
    if not enabled:
        yield
        return
    prof = cProfile.Profile()
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(top)
