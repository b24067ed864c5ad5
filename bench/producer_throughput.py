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

Run: .venv/bin/python -m bench.producer_throughput [--frames 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import re
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


class NullPublisher(RecordPublisher):
    """Serializes like the real one, sends nothing: the CPU cost of the feed alone."""

    def __init__(self) -> None:  # noqa: D107 - no Kafka client
        self.validate_every, self._until_check, self.produced = 100, 0, 0
        from schemas import Topic, validator_for

        self._validate = validator_for(Topic.RAW)
        self._validate_dlq = validator_for(Topic.DLQ)
        self.dlq_produced = self.invalid_records = 0
        self.raw_topic, self.dlq_topic = "raw", "dlq"

    def _produce(self, topic, key, value) -> None:  # noqa: ANN001
        pass

    def poll(self, timeout: float = 0.0) -> int:
        return 0


def hot_path(path: Path, publisher: RecordPublisher, symbols: list[str]) -> tuple[float, float]:
    """(frames per wall-clock second, frames per CPU second of the feed's own thread): the second
    figure is what one core does, whatever else the machine is running."""
    lines = [line.rstrip(b"\n").partition(b" ")[2] for line in gzip.open(path, "rb")]
    snaps = [orjson.loads(raw) for raw in lines if raw.startswith(b'{"lastUpdateId"')]
    frames = [raw for raw in lines if not raw.startswith(b'{"lastUpdateId"')]

    async def run() -> tuple[float, float]:
        async def no_fetch(symbol: str):  # noqa: ANN202
            raise AssertionError("snapshots are applied directly")

        feed = BookFeed(binance_spot.EXCHANGE, symbols, publisher, no_fetch)
        for snap in snaps:
            symbol = snap.pop("symbol", symbols[0])
            feed.symbols[symbol].sync.on_snapshot(binance_spot.parse_snapshot(snap), lambda ev: None)
        t0, c0 = time.perf_counter(), time.thread_time()
        on_frame, now = feed.on_frame, time.time_ns
        for raw in frames:
            on_frame(raw, now())
        publisher.flush(60) if not isinstance(publisher, NullPublisher) else None
        elapsed, cpu = time.perf_counter() - t0, time.thread_time() - c0
        assert feed.dlq == 0 and all(s.sync.gaps == 0 for s in feed.symbols.values())
        return len(frames) / elapsed, len(frames) / cpu

    return asyncio.run(run())


def end_to_end(path: Path, kafka: KafkaSettings, symbols: list[str], frames: int) -> tuple[float, float]:
    sim = subprocess.Popen(
        [
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
        while "simulator ws=" not in line:
            line = sim.stderr.readline()
        ws_url, rest_url = re.search(r"ws=(\S+) rest=(\S+)", line).groups()
        settings = ProducerSettings(symbols=symbols, ws_url=ws_url, rest_url=rest_url, metrics_port=0)
        service = ProducerService(settings, kafka, ProducerOptions(http=False))

        async def run() -> tuple[float, float]:
            stop = asyncio.Event()
            task = asyncio.create_task(service.run(stop))
            while service.feed.frames_in == 0:
                await asyncio.sleep(0.001)
            t0 = time.perf_counter()
            while service.feed.frames_in < frames:
                await asyncio.sleep(0.01)
            while service.publisher.delivered < service.publisher.produced or service.publisher.produced == 0:
                service.publisher.poll(0.01)
                await asyncio.sleep(0)
            elapsed = time.perf_counter() - t0
            stop.set()
            await task
            gaps = sum(s.sync.gaps for s in service.feed.symbols.values())
            assert gaps == 0 and service.feed.dlq == 0, (gaps, service.feed.dlq)
            return service.publisher.produced / elapsed, float("nan")

        return asyncio.run(run())
    finally:
        sim.terminate()
        sim.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=100_000)
    args = parser.parse_args()
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

    broker = KafkaBroker(
        KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{free_port()}", controller_port=free_port(), partitions=3
        ),
        StackSettings(state_dir=tmp / "state", start_timeout_s=180),
    )
    broker.start()
    try:
        results = []
        for name, path, symbols, n in (
            ("binance-looped", real, ["ETHUSDT"], n_real),
            ("model", synth, model_symbols, n_synth),
        ):
            results.append((name, "feed only (null sink)", hot_path(path, NullPublisher(), symbols)))
            kafka = broker.settings.model_copy(update={"topic_prefix": f"bench{len(results)}."})
            create_topics_if_absent(kafka, list(topic_names(kafka)), partitions=3)
            publisher = RecordPublisher(kafka, *topic_names(kafka), queue_max_messages=500_000)
            results.append((name, "feed -> broker", hot_path(path, publisher, symbols)))
            kafka = broker.settings.model_copy(update={"topic_prefix": f"bench{len(results)}."})
            create_topics_if_absent(kafka, list(topic_names(kafka)), partitions=3)
            results.append(
                (name, "simulator -> WebSocket -> producer -> broker", end_to_end(path, kafka, symbols, n))
            )
    finally:
        broker.stop()
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {os.getloadavg()}")
    print("| input | path | frames/s (wall) | frames per CPU-second of the feed thread |")
    print("|---|---|---|---|")
    for name, what, (rate, cpu_rate) in results:
        cpu = "n/a" if cpu_rate != cpu_rate else f"{cpu_rate:,.0f}"
        print(f"| {name} | {what} | {rate:,.0f} | {cpu} |")


if __name__ == "__main__":
    main()
