"""Shared parts of the Flink benchmarks: a broker in a temporary state folder (through the same
obm.stack code as `obm up`), realistic orderbook.raw records (20 levels a side, 10 symbols),
a fast paced or bulk producer, and reading a topic's record timestamps back.

The jobs run in a local mini-cluster in this process at parallelism 1, i.e. one task slot: the
same SQL, the same Kafka connector and the same environment settings as on the session cluster,
without the submission round trip, so each variant can be started and cancelled quickly."""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from config import KafkaSettings, StackSettings
from obm.stack.health import free_port
from obm.stack.kafka_broker import KafkaBroker

LEVELS = 20


def filesystem_checkpoints(t_env: Any) -> None:
    """Checkpoints to a temporary folder, as the deployed clusters do (`execution.checkpointing.dir`).
    Without it the local mini-cluster keeps checkpoints in JobManager memory, limited to 5 MB: the
    60 s baselines of a few hundred symbols exceed that, the checkpoint fails, the job restarts
    and replays, and the benchmark measures the restarts (seen: more records out than in)."""
    folder = Path(tempfile.mkdtemp(prefix="obm-bench-checkpoints-"))
    t_env.get_config().set("execution.checkpointing.dir", folder.as_uri())


def job_jvm_cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process's PyFlink JVM, the one that runs
    the local mini-cluster (the broker is a JVM too: it is told apart by its main class). CPU
    time is a steadier figure than a rate on a machine that other work shares."""
    tick = os.sysconf("SC_CLK_TCK")
    for pid in (d for d in os.listdir("/proc") if d.isdigit()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if b"java" in cmdline and b"GatewayServer" in cmdline and _descends_from_me(int(pid)):
            return (int(stat[11]) + int(stat[12])) / tick
    raise RuntimeError("no PyFlink JVM under this process")


def _descends_from_me(pid: int) -> bool:
    me = os.getpid()
    while pid > 1:
        if pid == me:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
    return False


def symbols(count: int) -> list[str]:
    return [f"S{i:04d}USDT" for i in range(count)]


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f} (1/5 min) on {os.cpu_count()} cores"


@contextmanager
def broker() -> Iterator[KafkaSettings]:
    state = Path(tempfile.mkdtemp(prefix="obm-bench-flink-"))
    state.chmod(0o755)
    settings = KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{free_port()}", controller_port=free_port(), partitions=3
    )
    kafka = KafkaBroker(settings, StackSettings(state_dir=state, start_timeout_s=180))
    kafka.start()
    try:
        yield settings.model_copy(update={"topic_prefix": f"b{uuid.uuid4().hex[:8]}."})
    finally:
        kafka.stop()
        shutil.rmtree(state, ignore_errors=True)


def create_topics(
    kafka: KafkaSettings, names: list[str], partitions: int = 3, config: dict[str, str] | None = None
) -> None:
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap_servers})
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=partitions, replication_factor=1, config=config or {}) for n in names]
    )
    for fut in futures.values():
        fut.result()


class BookWalk:
    """Random-walk books of every symbol, in the normalized shape of orderbook.raw."""

    def __init__(self, names: list[str], seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.mids = {s: 100.0 * (i + 1) for i, s in enumerate(names)}
        self.seq = dict.fromkeys(names, 1_000)

    def record(self, symbol: str, event_time_ms: int, receive_time_ns: int) -> dict[str, Any]:
        rng = self.rng
        self.mids[symbol] += rng.gauss(0, 0.02)
        best_bid = round(self.mids[symbol] - 0.005, 2)
        self.seq[symbol] += 1
        bids = [round(best_bid - i * 0.01, 2) for i in range(LEVELS)]
        asks = [round(best_bid + 0.01 + i * 0.01, 2) for i in range(LEVELS)]
        return {
            "schema_version": 1, "exchange": "binance", "market": "spot", "symbol": symbol,
            "event_time": event_time_ms, "receive_time_ns": receive_time_ns, "sequence_id": self.seq[symbol],
            "prev_sequence_id": self.seq[symbol] - 1,
            "bid_prices": bids, "bid_sizes": [round(rng.uniform(0.01, 9), 4) for _ in range(LEVELS)],
            "ask_prices": asks, "ask_sizes": [round(rng.uniform(0.01, 9), 4) for _ in range(LEVELS)],
            "resynced": False, "crossed": False,
        }  # fmt: skip


def kafka_producer(kafka: KafkaSettings, linger_ms: int) -> Producer:
    return Producer(
        {"bootstrap.servers": kafka.bootstrap_servers, "linger.ms": linger_ms, "compression.type": "lz4",
         "queue.buffering.max.messages": 1_000_000}
    )  # fmt: skip


def produce_bulk(
    kafka: KafkaSettings, topic: str, count: int, start_ms: int, n_symbols: int, key_interval_ms: int
) -> None:
    """`count` records, as fast as possible: every symbol updates every `key_interval_ms` of event
    time (Binance's diff stream: 100 ms), the symbols spread evenly over that interval. The
    density per key matters: an event-time RANGE window costs per update in proportion to the
    distinct times it holds."""
    names = symbols(n_symbols)
    walk, producer = BookWalk(names), kafka_producer(kafka, 20)
    for k in range(count):
        symbol = names[k % n_symbols]
        t = start_ms + (k // n_symbols) * key_interval_ms + (k % n_symbols) * key_interval_ms // n_symbols
        rec = walk.record(symbol, t, t * 1_000_000)
        while True:
            try:
                producer.produce(topic, orjson.dumps(rec), key=f"binance:{symbol}".encode())
                break
            except BufferError:
                producer.poll(0.05)
        if k % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0


def output_timestamps(kafka: KafkaSettings, topic: str, count: int, timeout_s: float) -> list[int]:
    """Record timestamps (ms, set when the job's producer sent them) of the first `count` records."""
    consumer = Consumer(
        {"bootstrap.servers": kafka.bootstrap_servers, "group.id": f"bench-{uuid.uuid4().hex}",
         "auto.offset.reset": "earliest", "enable.auto.commit": False}
    )  # fmt: skip
    consumer.subscribe([topic])
    stamps: list[int] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(stamps) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: {len(stamps)} of {count} records in {timeout_s:.0f} s")
            for msg in consumer.consume(10_000, timeout=0.5):
                if msg.error() is None:
                    stamps.append(msg.timestamp()[1])
    finally:
        consumer.close()
    return stamps


def steady_rate(stamps: list[int], first: float = 0.5, last: float = 0.95) -> float:
    """Records per second between two quantiles of the output times: start-up, the filling of the
    rolling windows and the tail left out."""
    ordered = sorted(stamps)
    lo, hi = int(len(ordered) * first), int(len(ordered) * last)
    span_s = (ordered[hi] - ordered[lo]) / 1000
    return (hi - lo) / span_s if span_s > 0 else float("inf")


def end_offsets(kafka: KafkaSettings, topic: str) -> int:
    consumer = Consumer(
        {"bootstrap.servers": kafka.bootstrap_servers, "group.id": f"bench-{uuid.uuid4().hex}"}
    )
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts)
    finally:
        consumer.close()
