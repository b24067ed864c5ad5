"""The pairs job in steady state (bench/flink_pairs.py --mode realtime): 1 s bars of every symbol
arrive at real-time pace, each second's bars as that second closes, so every pair is updated
every second, and the question is whether the job keeps up, not how fast it drains a backlog.

A feeder in its own process (spawned: the Python worker runs as threads of the benchmark's
process in the local mini-cluster, so its CPU is that process's, and the feeder must not add to
it) produces the bars of second k at wall time start + k + 1 s and reads the job's output
(uncommitted, as it is written) to time each record: lag = when it was read - when its second
closed (start + k + 1 s). What cannot be less than that: the bars' watermark trails the newest
bar by FlinkSettings.watermark_out_of_orderness_ms (2 s), so second k is computed once the bars of
k + 2 come, i.e. ~2 s after it closed, plus the watermark interval and the call. The job keeps up
when the lag stays bounded over the measured seconds (every window full, the ADF at its cadence)
instead of growing with them, and every expected record comes."""

from __future__ import annotations

import math
import multiprocessing
import os
import random
import statistics
import time
import uuid
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition

from bench.flink_harness import job_jvm_cpu_s, kafka_producer
from config import KafkaSettings


def _bar(symbol: str, t: int, close: str) -> bytes:
    return orjson.dumps(
        {
            "schema_version": 1,
            "exchange": "binance",
            "market": "spot",
            "symbol": symbol,
            "interval": "1s",
            "window_start": t,
            "window_end": t + 1000,
            "open": close,
            "high": close,
            "low": close,
            "close": close,
            "volume": "1.000000000",
            "quote_volume": close,
            "vwap": float(close),
            "trade_count": 1,
            "buy_volume": "1.000000000",
            "sell_volume": "0.000000000",
            "volume_delta": "1.000000000",
        }  # fmt: skip
    )


def feed(
    kafka: KafkaSettings, topic: str, out_topic: str, names: list[str], seconds: int, start_ms: int, conn: Any
) -> None:
    """Bars of `seconds` seconds from `start_ms` (a whole second ahead of now), each second's when
    it closes, then 15 s of reading only; sends back (event time, lag ms) of every record read."""
    rng, producer = random.Random(15), kafka_producer(kafka, 5)
    logs = {s: math.log(100.0 * (i + 1)) for i, s in enumerate(names)}
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "group.id": f"bench-{uuid.uuid4().hex}",
            "isolation.level": "read_uncommitted",
            "fetch.wait.max.ms": 20,
            "enable.auto.commit": False,
        }
    )
    parts = consumer.list_topics(out_topic, timeout=10).topics[out_topic].partitions
    consumer.assign([TopicPartition(out_topic, p, 0) for p in parts])
    lags: list[tuple[int, int]] = []

    def read_until(wall_ms: float) -> None:
        while (now := time.time() * 1000) < wall_ms:
            for message in consumer.consume(500, timeout=min(0.1, (wall_ms - now) / 1000)):
                value = message.value()
                if message.error() is None and value:
                    event_time = orjson.loads(value)["event_time"]
                    lags.append((event_time, int(time.time() * 1000) - (event_time + 1000)))

    late_sends = 0
    for k in range(seconds):
        t = start_ms + k * 1000
        read_until(t + 1000)
        late_sends += time.time() * 1000 > t + 1100
        market = rng.gauss(0.0, 2e-4)
        for symbol in names:
            logs[symbol] += market + rng.gauss(0.0, 1e-4)
            producer.produce(
                topic, _bar(symbol, t, f"{math.exp(logs[symbol]):.4f}"), key=f"binance:{symbol}".encode()
            )
        producer.poll(0)
    producer.flush(30)
    read_until(start_ms + (seconds + 15) * 1000)
    consumer.close()
    conn.send((lags, late_sends))
    conn.close()


def summary(lags: list[tuple[int, int]], start_ms: int, first_s: int, last_s: int, pairs: int) -> list[str]:
    """Lines: records and lag over the measured seconds [first_s, last_s) of the input, and per
    thirds of it (a lag that grows third by third is a job falling behind)."""
    span = [(t, lag) for t, lag in lags if start_ms + first_s * 1000 <= t < start_ms + last_s * 1000]
    expected = pairs * (last_s - first_s)
    lines = [f"records of the measured seconds: {len(span):,} of {expected:,} expected"]
    third = (last_s - first_s) / 3
    for i in range(3):
        lo, hi = (
            start_ms + int((first_s + i * third) * 1000),
            start_ms + int((first_s + (i + 1) * third) * 1000),
        )
        part = sorted(lag for t, lag in span if lo <= t < hi)
        if part:
            lines.append(
                f"  seconds {(lo - start_ms) // 1000}-{(hi - start_ms) // 1000}: lag p50 {statistics.median(part) / 1000:.2f} s, "
                f"p99 {part[int(0.99 * (len(part) - 1))] / 1000:.2f} s, max {part[-1] / 1000:.2f} s ({len(part):,} records)"
            )
    return lines


def run_realtime(
    kafka: KafkaSettings,
    topic: str,
    out_topic: str,
    names: list[str],
    seconds: int,
    full_from_s: int,
    pairs: int,
) -> tuple[list[str], float, float]:
    """Feeds `seconds` seconds in real time to the running job; (summary lines, Python worker and
    job JVM cores over the measured seconds)."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    start_ms = (int(time.time()) + 3) * 1000
    feeder = ctx.Process(target=feed, args=(kafka, topic, out_topic, names, seconds, start_ms, send))
    feeder.start()
    samples: list[tuple[float, float, float]] = []  # wall s, Python worker CPU s, JVM CPU s
    while not receive.poll(1.0):
        times = os.times()
        samples.append((time.time(), times.user + times.system, job_jvm_cpu_s()))
    lags, late_sends = receive.recv()
    feeder.join()
    lo_wall, hi_wall = start_ms / 1000 + full_from_s + 3, start_ms / 1000 + seconds + 3
    inside = [s for s in samples if lo_wall <= s[0] <= hi_wall]
    (t0, py0, jvm0), (t1, py1, jvm1) = inside[0], inside[-1]
    lines = summary(lags, start_ms, full_from_s, seconds - 3, pairs)
    if late_sends:
        lines.append(f"  the feeder sent {late_sends} seconds' bars > 100 ms late (a loaded machine)")
    return lines, (py1 - py0) / (t1 - t0), (jvm1 - jvm0) / (t1 - t0)
