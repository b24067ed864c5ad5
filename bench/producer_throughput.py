"""Producer throughput: diff-depth frames per second into a real Kafka broker.

Three figures, each on this machine's Python and one producer process:
  1. hot path, no network in: frames already in memory go through BookFeed.on_frame (parse,
     validate, apply to the exact book, build and serialize the top-20 record) into a null sink;
  2. the same into a real local broker (idempotent, lz4; librdkafka's own threads do the sending);
  3. end to end: the simulator (its own process) replays the capture at maximum speed over a
     WebSocket into the producer service and the broker; timed from the first frame to the last
     record acknowledged.
Inputs: the shared Binance capture (real frame shapes, 3,434 diffs, ~31 levels each, looped by
shifting its update ids) and a synthetic capture from the market model (3 symbols).

Each figure is measured for each engine of the diff-depth hot path (native: the compiled Rust
path, python: the reference), alternated in one session, `--rounds` times (medians printed).
CPU figures: per CPU-second of the feed's thread, and of the whole producer process (librdkafka's
threads included); the simulator is another process and is not counted.

Run: .venv/bin/python -m bench.producer_throughput [--frames 100000] [--rounds 3]
     [--engines native,python] [--pin]   (--pin: producer on CPU 1, simulator on CPU 0)
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from config import KafkaSettings, ProducerSettings, StackSettings
from obm.stack.health import free_port
from obm.stack.kafka_broker import KafkaBroker
from producer.exchanges import binance_spot
from producer.feed import BookFeed
from producer.publisher import RecordPublisher, create_topics_if_absent, topic_names
from producer.service import ProducerOptions, ProducerService
from producer.simulator.market_model import SymbolModel, depth_update

REPO = Path(__file__).resolve().parent.parent
CAPTURE = REPO.parent / "shared" / "data" / "binance-spot-ethusdt-20240808.txt.gz"


def looped_binance_capture(path: Path, frames: int) -> tuple[int, int]:
    """Write `frames` diff frames made by looping the shared capture's diffs: each loop shifts U/u
    so the chain continues (the book drifts from the real one, the frame shapes stay real)."""
    diffs, snapshot = [], None
    with gzip.open(CAPTURE, "rb") as fh:
        for line in fh:
            _, _, raw = line.rstrip(b"\n").partition(b" ")
            if b"@depth@100ms" in raw:
                diffs.append(orjson.loads(raw)["data"])
            elif b"lastUpdateId" in raw:
                snapshot = orjson.loads(raw)
    assert snapshot is not None
    diffs = [d for d in diffs if d["u"] > snapshot["lastUpdateId"]]
    span = diffs[-1]["u"] - diffs[0]["U"] + 1
    levels = 0
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(b"1 %s\n" % orjson.dumps(snapshot))
        for i in range(frames):
            d = dict(diffs[i % len(diffs)])
            shift = (i // len(diffs)) * span
            d["U"] += shift
            d["u"] += shift
            levels += len(d["b"]) + len(d["a"])
            out.write(b"%d %s\n" % (i + 2, orjson.dumps({"stream": "ethusdt@depth@100ms", "data": d})))
    return frames, levels


def model_capture(path: Path, frames: int, symbols: list[str]) -> tuple[int, int]:
    models = {s: SymbolModel(s, seed=1) for s in symbols}
    levels = 0
    with gzip.open(path, "wb", compresslevel=1) as out:
        for s, m in models.items():
            snap = m.snapshot(1000)
            snap["symbol"] = s
            out.write(b"1 %s\n" % orjson.dumps(snap))
        for i in range(frames):
            s = symbols[i % len(symbols)]
            first, final, b, a = models[s].step()
            levels += len(b) + len(a)
            data = depth_update(s, 1_723_161_255_000 + i, first, final, b, a)
            out.write(
                b"%d %s\n" % (i + 2, orjson.dumps({"stream": f"{s.lower()}@depth@100ms", "data": data}))
            )
    return frames, levels


class _NullProducer:
    def produce(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        pass

    def __len__(self) -> int:
        return 0


class NullPublisher(RecordPublisher):
    """Serializes like the real one, sends nothing: the CPU cost of the feed alone."""

    def __init__(self) -> None:  # noqa: D107 - no Kafka client
        self.validate_every, self._until_check, self.produced = 100, 0, 0
        from schemas import Topic, validator_for

        self._validate = validator_for(Topic.RAW)
        self._validate_dlq = validator_for(Topic.DLQ)
        self.dlq_produced = self.invalid_records = 0
        self.raw_topic, self.dlq_topic = "raw", "dlq"
        self._producer = _NullProducer()  # type: ignore[assignment]

    def _produce(self, topic, key, value) -> None:  # noqa: ANN001
        pass

    def poll(self, timeout: float = 0.0) -> int:
        return 0


def hot_path(
    path: Path, publisher: RecordPublisher, symbols: list[str], engine: str
) -> tuple[float, float, float]:
    """(frames per wall-clock second, per CPU second of the feed's own thread, per CPU second of
    the process): the CPU figures are what one core does, whatever else the machine is running."""
    lines = [line.rstrip(b"\n").partition(b" ")[2] for line in gzip.open(path, "rb")]
    snaps = [orjson.loads(raw) for raw in lines if raw.startswith(b'{"lastUpdateId"')]
    frames = [raw for raw in lines if not raw.startswith(b'{"lastUpdateId"')]

    async def run() -> tuple[float, float, float]:
        async def no_fetch(symbol: str):  # noqa: ANN202
            raise AssertionError("snapshots are applied directly")

        feed = BookFeed(binance_spot.EXCHANGE, symbols, publisher, no_fetch, engine=engine)
        for snap in snaps:
            symbol = snap.pop("symbol", symbols[0])
            feed.symbols[symbol].sync.on_snapshot(binance_spot.parse_snapshot(snap), lambda ev: None)
        t0, c0, p0 = time.perf_counter(), time.thread_time(), time.process_time()
        on_frame, now = feed.on_frame, time.time_ns
        for raw in frames:
            on_frame(raw, now())
        publisher.flush(60) if not isinstance(publisher, NullPublisher) else None
        elapsed, cpu, proc = time.perf_counter() - t0, time.thread_time() - c0, time.process_time() - p0
        assert feed.dlq == 0 and all(r.counters.gaps == 0 for r in feed.book_reports())
        # the first event after each snapshot goes through Python (it carries resynced=true)
        assert feed.native_deferred <= len(symbols), feed.native_deferred
        return len(frames) / elapsed, len(frames) / cpu, len(frames) / proc

    return asyncio.run(run())


def _proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def end_to_end(
    path: Path, kafka: KafkaSettings, symbols: list[str], frames: int, engine: str, pin: bool
) -> tuple[float, float, float, float]:
    """(records/s wall, per CPU-second of the producer's main thread, of its process, and the
    simulator's frames per CPU-second: when that is near the wall rate, the simulator is the limit)."""
    sim = subprocess.Popen(
        [
            *(["taskset", "-c", "0"] if pin else []),
            sys.executable,
            "-m",
            "producer.simulator",
            "--port",
            "0",
            "--replay",
            str(path),
            "--speed",
            "0",
            "--log-level",
            "WARNING",
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ""
        assert sim.stderr is not None
        while "simulator ws=" not in line:
            line = sim.stderr.readline()
        found = re.search(r"ws=(\S+) rest=(\S+)", line)
        assert found is not None, line
        ws_url, rest_url = found.groups()
        settings = ProducerSettings(  # books only (trades default on since 2026-12-06), as measured before
            symbols=symbols, ws_url=ws_url, rest_url=rest_url, metrics_port=0, queue_max_messages=500_000,
            trades=False,
        )  # fmt: skip
        service = ProducerService(settings, kafka, ProducerOptions(http=False, engine=engine))

        async def run() -> tuple[float, float, float, float]:
            stop = asyncio.Event()
            task = asyncio.create_task(service.run(stop))
            while service.feed.frames_in == 0:
                await asyncio.sleep(0.001)
            t0, c0, p0, s0 = (
                time.perf_counter(),
                time.thread_time(),
                time.process_time(),
                _proc_cpu_s(sim.pid),
            )
            f0, r0 = service.feed.frames_in, service.publisher.produced
            while service.feed.frames_in < frames:
                await asyncio.sleep(0.01)
            sim_cpu = _proc_cpu_s(sim.pid) - s0
            while service.publisher.delivered < service.publisher.produced or service.publisher.produced == 0:
                service.publisher.poll(0.01)
                await asyncio.sleep(0)
            elapsed, cpu, proc = time.perf_counter() - t0, time.thread_time() - c0, time.process_time() - p0
            stop.set()
            await task
            gaps = sum(r.counters.gaps for r in service.feed.book_reports())
            assert gaps == 0 and service.feed.dlq == 0, (gaps, service.feed.dlq)
            n = service.publisher.produced - r0
            return n / elapsed, n / cpu, n / proc, (service.feed.frames_in - f0) / max(sim_cpu, 1e-9)

        return asyncio.run(run())
    finally:
        sim.terminate()
        sim.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--engines", default="native,python")
    parser.add_argument("--inputs", default="binance-looped,model")
    parser.add_argument("--pin", action="store_true", help="producer on CPU 1, simulator on CPU 0")
    args = parser.parse_args()
    if args.pin:
        os.sched_setaffinity(0, {1})
    engines = args.engines.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="obm-bench-producer-"))
    real = tmp / "binance-looped.txt.gz"
    synth = tmp / "model.txt.gz"
    n_real, lv_real = looped_binance_capture(real, args.frames)
    model_symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    n_synth, lv_synth = model_capture(synth, args.frames, model_symbols)
    print(
        f"inputs: binance-looped {n_real} frames ({lv_real / n_real:.1f} levels/frame), "
        f"model {n_synth} frames ({lv_synth / n_synth:.1f} levels/frame)"
    )
    loads = [os.getloadavg()[0]]
    broker = KafkaBroker(
        KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{free_port()}", controller_port=free_port(), partitions=3
        ),
        StackSettings(state_dir=tmp / "state", start_timeout_s=180),
    )
    broker.start()
    results: dict[tuple[str, str, str], list[tuple[float, ...]]] = {}
    topics = 0

    def fresh_kafka() -> KafkaSettings:
        """New topics, warmed: the first few thousand records into a new topic cost the producer
        ~30% more CPU (measured), which would otherwise land on whichever row runs first."""
        nonlocal topics
        topics += 1
        kafka = broker.settings.model_copy(update={"topic_prefix": f"bench{topics}."})
        create_topics_if_absent(kafka, list(topic_names(kafka)), partitions=3)
        warm = RecordPublisher(kafka, *topic_names(kafka))
        for i in range(5000):
            warm._produce(warm.raw_topic, b"warm-up:%d" % (i % 7), b"x" * 1200)
        warm.flush(60)
        return kafka

    try:
        inputs = [
            ("binance-looped", real, ["ETHUSDT"], n_real),
            ("model", synth, model_symbols, n_synth),
        ]
        for _ in range(args.rounds):
            for name, path, symbols, n in [i for i in inputs if i[0] in args.inputs.split(",")]:
                for engine in engines:  # alternated: old and new code see the same machine load
                    row = results.setdefault
                    row((name, "feed only (null sink)", engine), []).append(
                        hot_path(path, NullPublisher(), symbols, engine)
                    )
                    publisher = RecordPublisher(
                        fresh_kafka(), *topic_names(fresh_kafka()), queue_max_messages=500_000
                    )
                    row((name, "feed -> broker", engine), []).append(
                        hot_path(path, publisher, symbols, engine)
                    )
                    if engine == "native":  # the per-record delivery callback, as before this pass
                        kafka = fresh_kafka()
                        publisher = RecordPublisher(
                            kafka,
                            *topic_names(kafka),
                            queue_max_messages=500_000,
                            extra_config={"delivery.report.only.error": False},
                        )
                        row((name, "feed -> broker, a delivery report per record", engine), []).append(
                            hot_path(path, publisher, symbols, engine)
                        )
                    row((name, "simulator -> WebSocket -> producer -> broker", engine), []).append(
                        end_to_end(path, fresh_kafka(), symbols, n, engine, args.pin)
                    )
                    loads.append(os.getloadavg()[0])
    finally:
        broker.stop()
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average (1 min) during the "
        f"runs {min(loads):.1f}-{max(loads):.1f}, pinned: {args.pin}, rounds: {args.rounds} (medians)"
    )
    print(
        "| input | path | engine | frames/s (wall) | per CPU-second of the feed thread | "
        "per CPU-second of the process | simulator frames per its CPU-second |"
    )
    print("|---|---|---|---|---|---|---|")
    for (name, what, engine), runs in results.items():
        cols = [statistics.median(r[i] for r in runs) for i in range(len(runs[0]))]
        wall, thread, proc = cols[:3]
        sim = f"{cols[3]:,.0f}" if len(cols) > 3 else "n/a"
        print(f"| {name} | {what} | {engine} | {wall:,.0f} | {thread:,.0f} | {proc:,.0f} | {sim} |")


if __name__ == "__main__":
    main()
