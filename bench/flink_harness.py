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
from config.clients import client_config
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


def _java_pid(main_marker: bytes) -> int | None:
    """The JVM under this process whose command line holds `main_marker`."""
    for pid in (d for d in os.listdir("/proc") if d.isdigit()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"java" in cmdline and main_marker in cmdline and _descends_from_me(int(pid)):
            return int(pid)
    return None


def cpu_by_thread() -> dict[str, float]:
    """CPU seconds so far of each thread of the job's JVM (keyed by thread name: Flink names a
    task's thread after its chain of operators, e.g. "Source: source[1] -> Calc[2]"), plus the
    broker JVM as a whole under "broker"."""
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    job, broker_pid = _java_pid(b"GatewayServer"), _java_pid(b"kafka.Kafka")
    for pid, whole in ((job, False), (broker_pid, True)):
        if pid is None:
            continue
        tasks = [str(pid)] if whole else os.listdir(f"/proc/{pid}/task")
        for tid in tasks:
            base = f"/proc/{pid}" if whole else f"/proc/{pid}/task/{tid}"
            try:
                name = "broker" if whole else Path(f"{base}/comm").read_text().strip()
                stat = Path(f"{base}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            out[name] = out.get(name, 0.0) + (int(stat[11]) + int(stat[12])) / tick
    return out


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
    admin = AdminClient(client_config(kafka))
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


def output_progress(
    kafka: KafkaSettings,
    topic: str,
    count: int,
    timeout_s: float,
    every_s: float = 0.25,
    stall_s: float = 60.0,
) -> list[tuple[float, int, dict[str, float]]]:
    """(wall time s, records in `topic`, `cpu_by_thread()`) every `every_s` until `count` are
    there. Only the end
    offsets are asked for: reading the records themselves would take CPU from the job on this
    2-core machine (the broker serving them and this process decoding them). Output that stops
    short of `count` for `stall_s` is an error, not a wait until the timeout: a job that loses
    records must fail its benchmark (seen: the metrics job dropping rows behind the watermark).

    The end offsets are read uncommitted: the jobs write in Kafka transactions (exactly-once, the
    default), and a read_committed end offset (librdkafka's default) moves only when a checkpoint
    commits, in steps so large under backpressure that the steady-state span fell inside one of
    them (ZeroDivisionError in steady_state, 1M records, 2026-12-05). Uncommitted, it moves as the
    job writes; each commit adds one marker offset per partition, a few per second against tens of
    thousands of records."""
    consumer = Consumer(
        {
            "bootstrap.servers": kafka.bootstrap_servers,
            "group.id": f"bench-{uuid.uuid4().hex}",
            "isolation.level": "read_uncommitted",
        }
    )
    try:
        parts = [
            TopicPartition(topic, p) for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ]
        progress: list[tuple[float, int, dict[str, float]]] = []
        deadline = time.monotonic() + timeout_s
        last_change = time.monotonic()
        while not progress or progress[-1][1] < count:
            now = time.monotonic()
            done = progress[-1][1] if progress else 0
            if now > deadline:
                raise TimeoutError(f"{topic}: {done} of {count} records")
            if done and now - last_change > stall_s:
                raise RuntimeError(
                    f"{topic}: output stopped at {done} of {count} records for {stall_s:.0f} s"
                )
            total = sum(consumer.get_watermark_offsets(tp, timeout=10, cached=False)[1] for tp in parts)
            if total != done:
                last_change = now
            progress.append((time.time(), total, cpu_by_thread()))
            time.sleep(every_s)
        return progress
    finally:
        consumer.close()


def steady_state(
    progress: list[tuple[float, int, dict[str, float]]], count: int, first: float = 0.5, last: float = 0.95
) -> tuple[float, dict[str, float]]:
    """(records per second, CPU µs per record of each thread) between the polls where the output
    passed two fractions of `count`: start-up (the JIT compiles the generated code for ~30 s of a
    core here), the filling of the rolling windows and the tail are left out."""
    lo = next(p for p in progress if p[1] >= count * first)
    hi = next(p for p in progress if p[1] >= count * last)
    records = hi[1] - lo[1]
    rate = records / (hi[0] - lo[0])
    cpu = {name: (hi[2][name] - lo[2].get(name, 0.0)) / records * 1e6 for name in hi[2]}
    return rate, cpu


def end_offsets(kafka: KafkaSettings, topic: str) -> int:
    consumer = Consumer(
        {"bootstrap.servers": kafka.bootstrap_servers, "group.id": f"bench-{uuid.uuid4().hex}"}
    )
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts)
    finally:
        consumer.close()
