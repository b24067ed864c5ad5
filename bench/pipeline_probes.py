"""What bench/pipeline.py watches while a step runs: one probe per place a user can see a book
update (the record on orderbook.processed, the latest value in Redis, the row in PostgreSQL, an
alert on orderbook.alerts, a gateway message), each noting event time -> seen latencies of the
records whose event time falls in the step's window, and the CPU of each process of the stack.

Latency is wall clock at sight minus the record's `event_time`, which the simulator stamps from
its own clock on the same machine: the whole path from the exchange's event to the user. Kafka
probes see every record. Redis and PostgreSQL are polled (the poll interval is the resolution of
those figures, and a poll sees only the newest value of a key: what a reader of the live values
would see); PostgreSQL is polled on a sample of symbols, counted exactly afterwards."""

from __future__ import annotations

import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from config import KafkaSettings, PostgresSettings, RedisSettings
from schemas import Topic
from schemas.topics import topic_name


def now_ms() -> float:
    return time.time_ns() / 1e6


@dataclass
class Window:
    """Records with event time in [start_ms, end_ms) are measured. It opens (`open`) once every
    probe is reading, so none misses the first records of the window."""

    start_ms: float = float("inf")
    end_ms: float = float("inf")

    def open(self, start_ms: int, seconds: float) -> None:
        self.end_ms = start_ms + seconds * 1000
        self.start_ms = start_ms

    def __contains__(self, event_time: int) -> bool:
        return self.start_ms <= event_time < self.end_ms


@dataclass
class Seen:
    """Latencies (ms) of one probe, with the sight time of each, and how many records it saw."""

    name: str
    latencies: list[float] = field(default_factory=list)
    sight_ms: list[float] = field(default_factory=list)
    count: int = 0
    out_of_order: int = 0

    def add(self, event_time: int, at_ms: float) -> None:
        self.latencies.append(at_ms - event_time)
        self.sight_ms.append(at_ms)
        self.count += 1


class Probe(threading.Thread):
    """A daemon thread running `poll()` until stopped."""

    def __init__(self, window: Window) -> None:
        super().__init__(daemon=True)
        self.window = window
        self.stopping = threading.Event()
        self.ready = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.setup()
            self.ready.set()
            while not self.stopping.is_set():
                self.poll()
        except BaseException as exc:  # noqa: BLE001 - reported by the bench, not swallowed
            self.error = exc
        finally:
            self.teardown()

    def setup(self) -> None: ...

    def poll(self) -> None: ...

    def teardown(self) -> None: ...

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)
        if self.error is not None:
            raise RuntimeError(f"{type(self).__name__} failed: {self.error!r}") from self.error


class KafkaProbe(Probe):
    """orderbook.raw, orderbook.processed and orderbook.alerts (latency and counts), from their end
    at start, read_committed like every consumer of the project. A key's records come from one
    partition in order, so a sequence id that does not grow per key is a duplicate or a reorder."""

    def __init__(self, window: Window, kafka: KafkaSettings) -> None:
        super().__init__(window)
        self.kafka = kafka
        self.raw = Seen("raw")
        self.processed = Seen("processed")
        self.alerts = Seen("alerts")
        self._last_seq: dict[bytes, int] = {}
        # Latency of the newest processed record read, window or not: whether the pipeline is live.
        self.current_lag_ms = float("inf")

    def setup(self) -> None:
        """Every partition assigned at its end offset now (no group join to wait for)."""
        from confluent_kafka import Consumer, TopicPartition

        from config.clients import consumer_config

        self.consumer = Consumer(consumer_config(self.kafka, f"obm-bench-pipeline-{uuid.uuid4().hex[:8]}"))
        self.names = {
            topic_name(t, self.kafka.topic_prefix): t for t in (Topic.RAW, Topic.PROCESSED, Topic.ALERTS)
        }
        assigned = []
        for name in self.names:
            for p in self.consumer.list_topics(name, timeout=30).topics[name].partitions:
                end = self.consumer.get_watermark_offsets(TopicPartition(name, p), timeout=30)[1]
                assigned.append(TopicPartition(name, p, end))
        self.consumer.assign(assigned)

    def poll(self) -> None:
        for msg in self.consumer.consume(num_messages=2000, timeout=0.2):
            if msg.error():
                continue
            at = now_ms()
            topic = self.names[msg.topic() or ""]
            rec = orjson.loads(msg.value() or b"{}")
            event_time = int(rec["event_time"])
            if topic is Topic.PROCESSED:
                self.current_lag_ms = at - event_time
            if event_time not in self.window:
                continue
            if topic is Topic.RAW:
                self.raw.add(event_time, at)
            elif topic is Topic.ALERTS:
                self.alerts.add(event_time, at)
            else:
                self.processed.add(event_time, at)
                key, seq = msg.key() or b"", int(rec["sequence_id"])
                if seq <= self._last_seq.get(key, -1):
                    self.processed.out_of_order += 1
                self._last_seq[key] = seq

    def teardown(self) -> None:
        if hasattr(self, "consumer"):
            self.consumer.close()


class RedisProbe(Probe):
    """MGET of every symbol's latest value each `interval_s`; a changed value is seen then."""

    def __init__(
        self, window: Window, redis: RedisSettings, keys: list[str], interval_s: float = 0.1
    ) -> None:
        super().__init__(window)
        self.settings, self.keys, self.interval_s = redis, keys, interval_s
        self.seen = Seen("redis")
        self._last: dict[str, bytes] = {}

    def setup(self) -> None:
        from config.clients import redis_client

        self.client = redis_client(self.settings, timeout_s=5.0)

    def poll(self) -> None:
        values: list[bytes | None] = self.client.mget(self.keys)  # type: ignore[assignment]
        at = now_ms()
        for key, value in zip(self.keys, values, strict=True):
            if value is None or self._last.get(key) == value:
                continue
            self._last[key] = value
            event_time = int(orjson.loads(value)["event_time"])
            if event_time in self.window:
                self.seen.add(event_time, at)
        self.stopping.wait(self.interval_s)


class PostgresProbe(Probe):
    """The rows of a sample of symbols that became visible since the last poll (a key's rows are
    written in its order, so `event_time` above the last seen one is new)."""

    def __init__(
        self, window: Window, pg: PostgresSettings, exchange: str, symbols: list[str], interval_s: float = 0.5
    ) -> None:
        super().__init__(window)
        self.pg, self.exchange, self.symbols, self.interval_s = pg, exchange, symbols, interval_s
        self.seen = Seen("postgres")
        self._last: dict[str, int] = {}

    def setup(self) -> None:
        import psycopg

        self.conn = psycopg.connect(self.pg.conninfo(), autocommit=True)

    def poll(self) -> None:
        if self.window.start_ms == float("inf"):
            self.stopping.wait(self.interval_s)
            return
        if not self._last:
            self._last = dict.fromkeys(self.symbols, int(self.window.start_ms) - 1)
        since = min(self._last.values())
        rows = self.conn.execute(
            "SELECT symbol, event_time FROM orderbook_metrics WHERE exchange = %s AND symbol = ANY(%s)"
            " AND ts >= to_timestamp(%s / 1000.0) AND event_time > %s",
            (self.exchange, self.symbols, since, since),
        ).fetchall()
        at = now_ms()
        for symbol, event_time in rows:
            if event_time > self._last[symbol]:
                self._last[symbol] = max(self._last[symbol], event_time)
                if event_time in self.window:
                    self.seen.add(event_time, at)
        self.stopping.wait(self.interval_s)

    def teardown(self) -> None:
        if hasattr(self, "conn"):
            self.conn.close()


class GatewayProbe(Probe):
    """A WebSocket client of the gateway subscribed to every key's metrics."""

    def __init__(self, window: Window, url: str) -> None:
        super().__init__(window)
        self.url = url
        self.seen = Seen("gateway")

    def setup(self) -> None:
        from websockets.sync.client import connect

        self.ws = connect(self.url, max_size=None, open_timeout=30)
        self.ws.send(
            orjson.dumps({"type": "subscribe", "channel": "metrics", "keys": ["*"], "id": 1}).decode()
        )

    def poll(self) -> None:
        try:
            text = self.ws.recv(timeout=0.5)
        except TimeoutError:
            return
        at = now_ms()
        msg = orjson.loads(text)
        if msg.get("type") == "update":
            event_time = int(msg["data"]["event_time"])
            if event_time in self.window:
                self.seen.add(event_time, at)

    def teardown(self) -> None:
        if hasattr(self, "ws"):
            self.ws.close()


def pg_count(pg: PostgresSettings, window: Window) -> int:
    """Rows stored with event time in the window (exact)."""
    import psycopg

    with psycopg.connect(pg.conninfo()) as conn:
        row = conn.execute(
            "SELECT count(*) FROM orderbook_metrics WHERE ts >= to_timestamp(%s / 1000.0)"
            " AND ts < to_timestamp(%s / 1000.0) + interval '1 second' AND event_time >= %s AND event_time < %s",
            (window.start_ms, window.end_ms, window.start_ms, window.end_ms),
        ).fetchone()
    return int(row[0]) if row else 0


# ---------------------------------------------------------------- CPU of the stack's processes

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime


def component_cpu_s(state_dir: Path) -> dict[str, float]:
    """CPU-seconds used so far by each component of the stack (its pid file's process and all its
    descendants, e.g. the TaskManager's Python workers), and by this bench process."""
    tree = _children()
    out: dict[str, float] = {}
    roots = {p.stem: int(p.read_text().strip()) for p in (state_dir / "pids").glob("*.pid")}
    roots["bench (measuring)"] = os.getpid()
    for name, root in roots.items():
        todo, ticks = [root], 0
        while todo:
            pid = todo.pop()
            ticks += _cpu_ticks(pid)
            todo += tree.get(pid, [])
        out[name] = ticks / CLOCK_TICKS
    return out


def machine_busy_s() -> tuple[float, float]:
    """(busy CPU-seconds of the whole machine, wall seconds x cores) from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / CLOCK_TICKS, sum(fields) / CLOCK_TICKS
