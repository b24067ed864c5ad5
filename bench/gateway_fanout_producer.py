"""The producer side of bench/gateway_fanout.py: orderbook.processed records written at a steady
rate round robin over the symbols, with librdkafka's statistics (queue wait, produce round trip)
and a sample of the broker's acks, so the way to the broker can be told apart from the gateway."""

from __future__ import annotations

import os
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer

from config import KafkaSettings
from config.clients import producer_config
from schemas.topics import Topic, record_key, topic_name

EXCHANGE = "bench"


def processed(symbol: str, seq: int) -> bytes:
    now = time.time_ns()
    return orjson.dumps({
        "schema_version": 1, "exchange": EXCHANGE, "market": "spot", "symbol": symbol,
        "event_time": now // 1_000_000, "receive_time_ns": now, "sequence_id": seq,
        "best_bid": 99.5, "best_ask": 100.5, "best_bid_size": 1.5, "best_ask_size": 2.0, "mid": 100.0,
        "spread": 1.0, "spread_bps": 100.0, "imbalance_1": 0.1, "imbalance_5": -0.2, "imbalance_10": 0.05,
        "imbalance_20": None, "depth_complete_10bps": True, "crossed": False,
    })  # fmt: skip


ACK_SAMPLE = 100  # every 100th record's way to the broker's ack is timed


class ProducerStats:
    """librdkafka's statistics of the bench's producer, emitted once a second (from its poll()):
    per emission (wall clock s, then ms: p99 and max of the time records waited in the producer's
    queue before their request was sent (int_latency: linger and batching, a busy I/O thread), p99
    and max of the produce requests' round trip to the broker (rtt: the broker's append and
    response, its scheduling included)). With the ack column they split the way to the broker."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float, float, float, float]] = []

    def __call__(self, text: str) -> None:
        for b in orjson.loads(text).get("brokers", {}).values():
            queue, rtt = b.get("int_latency", {}), b.get("rtt", {})
            if b.get("nodeid", -1) >= 0 and rtt.get("cnt"):
                self.samples.append((time.time(), queue.get("p99", 0) / 1000, queue.get("max", 0) / 1000,
                                     rtt["p99"] / 1000, rtt["max"] / 1000))  # fmt: skip


PRODUCER_STATS = ProducerStats()


# linger.ms of the bench's producer (--linger-ms): 1 by default; the project's own producers use 5
# (the Flink jobs' kafka_linger_ms, producer/publisher.py), i.e. fewer, larger produce requests for
# the broker. Either way the wait counts in the figure: the Kafka timestamp is set at produce().
LINGER_MS = [1]


def new_producer(kafka: KafkaSettings) -> Producer:
    return Producer(producer_config(kafka, {
        "linger.ms": LINGER_MS[0], "queue.buffering.max.messages": 1_000_000,
        "statistics.interval.ms": 1000, "stats_cb": PRODUCER_STATS,  # diagnostics only
    }))  # fmt: skip


def listening_pid(port: int) -> int | None:
    """The process listening on a local TCP port (the broker's, for its CPU), from /proc."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{f[9]}]")
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                    return int(proc.name)
            except OSError:
                continue
    return None


def make_ready(producer: Producer, kafka: KafkaSettings) -> float:
    """Seconds until a first record (of a key no reading client has) is acked on every partition:
    the producer's metadata and idempotence PID (on a fresh broker the first PID waits for the
    transaction coordinator to load) and each partition's first write. Records produced before
    that would wait in librdkafka with their Kafka timestamp already set, a latency of the
    producer's start, not of the gateway."""
    started = time.monotonic()
    topic = topic_name(Topic.PROCESSED, kafka.topic_prefix)
    for partition in producer.list_topics(topic, timeout=60).topics[topic].partitions:
        producer.produce(topic, processed("READY", 0), key=record_key(EXCHANGE, "READY"), partition=partition)
    if producer.flush(120) != 0:
        raise RuntimeError("the bench's producer got no ack in 120 s")
    return time.monotonic() - started


def produce_steadily(producer: Producer | KafkaSettings, kafka: KafkaSettings, names: list[str], rate: int,
                     seconds: float, sent: list[int], acks: list[tuple[float, float]] | None = None,
                     boundary_s: float | None = None, at_boundary: threading.Event | None = None,
                     marks: list[tuple[int, float]] | None = None) -> None:  # fmt: skip
    """`rate` records/s for `seconds`, in slices of 5 ms, round robin over the symbols; a new
    producer when given settings. `acks` gets (wall clock ms at produce(), ms to the broker's ack)
    of every ACK_SAMPLE-th record: the part of the latency before the gateway. At `boundary_s`
    (the warm-up's end) `marks` gets (records so far, wall clock ms) and `at_boundary` is set."""
    if isinstance(producer, KafkaSettings):
        producer = new_producer(producer)
    topic = topic_name(Topic.PROCESSED, kafka.topic_prefix)
    start, n, seq = time.monotonic(), 0, 0

    def acked(at_ms: float, err: Any, _msg: Any) -> None:
        if acks is not None and err is None:
            acks.append((at_ms, time.time() * 1000 - at_ms))

    while (elapsed := time.monotonic() - start) < seconds:
        if boundary_s is not None and elapsed >= boundary_s and at_boundary is not None and marks is not None:
            # the previous slice was produced >= 5 ms ago; Kafka timestamps are whole ms
            marks.append((n, float(int(time.time() * 1000))))
            at_boundary.set()
            boundary_s = None
        due = int(elapsed * rate)
        while n < due:
            symbol = names[n % len(names)]
            if acks is not None and n % ACK_SAMPLE == 0:
                producer.produce(topic, processed(symbol, seq), key=record_key(EXCHANGE, symbol),
                                 on_delivery=partial(acked, time.time() * 1000))  # fmt: skip
            else:
                producer.produce(topic, processed(symbol, seq), key=record_key(EXCHANGE, symbol))
            n += 1
            seq += n % len(names) == 0
        producer.poll(0)
        time.sleep(0.005)
    producer.flush(30)
    sent.append(n)
