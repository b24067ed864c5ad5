"""Venues end to end into Kafka (issue 14: "each venue's parse + apply + publish path reaches >= 30k
updates/s per core end to end into Kafka"): Gate.io spot, Gate.io USDT futures and Binance COIN-M,
the venues the compiled engine does not keep, and Hyperliquid perps (`BTC`), which it keeps.

Per venue: a capture made here from the market model (the frames of bench.producer_venues: Gate.io
`order_book_update` notifications after a REST snapshot, COIN-M `depthUpdate`s chained by pu after
`/dapi/v1/depth`, 300-level books, ~15 changed levels per message), the listing the simulator
serves for the symbol; the simulator (its own process) replays it at maximum speed over a real
WebSocket and REST; our ProducerService (its own process, `--role ours`, books only) keeps the book
and publishes every state into a real local Kafka broker (3 partitions), timed from the first
frame received (buffered until the snapshot, then applied) to the last record acknowledged. Figures: records per CPU-second of the producer's process (the
WebSocket receive, the event loop, parse, apply, record, librdkafka's threads) and of its main
thread, and per wall second (bounded by the replay too on 2 cores). The snapshot limit is 1000 as
in the record/replay test: the replay serves its recorded snapshot to any request, so a book of the
product's 100-level Gate.io snapshot would resync (see docs/producer.md, Bounded snapshots) and get
the same snapshot again; the steady state measured is the same path.

Hyperliquid (`--venues hyperliquid`): the capture is the venue's `subscriptionResponse`, then
`l2Book` messages of bench.producer_venues (whole books, 20 levels per side, each at a later
`time`), the first one included in the records (it is the book's first record); the listing is
what the simulator answers to the producer's own `POST /info {"type": "meta"}` (the replay serves
it to that POST). The producer runs on the engine its settings choose (OBM_PRODUCER_ENGINE; auto:
the compiled one where it is built); the output names it. Timed from the first frame received to
the last record acknowledged, the records published before that first look not counted.

Run: .venv/bin/python -m bench.producer_venues_kafka [--frames 20000] [--rounds 2] [--venues gateio,gateio_futures,coinm,hyperliquid]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

# venue -> (exchange, market, symbol)
VENUES = {
    "gateio": ("gateio", "spot", "BTC_USDT"),
    "gateio_futures": ("gateio", "futures", "BTC_USDT"),
    "coinm": ("binance", "coinm", "BTCUSD_PERP"),
    "hyperliquid": ("hyperliquid", "perp", "BTC"),
}


def write_capture(path: Path, venue: str, frames: int) -> int:
    """The venue's capture of one symbol: returns the number of book updates in it."""
    import orjson

    from bench.producer_cryptofeed_venues import listing_of
    from bench.producer_venues import coinm_frames, gateio_frames, hyperliquid_frames
    from producer.capture import CaptureWriter
    from producer.exchanges import resolve
    from producer.venue_capture import CaptureHeader, VenueCaptureWriter

    exchange, market, symbol = VENUES[venue]
    t = time.time_ns()
    if venue == "coinm":
        snapshot, updates = coinm_frames(symbol, frames)
        snap = orjson.loads(snapshot)
        snap["symbol"] = symbol
        writer = CaptureWriter(path)
        writer.write(t, orjson.dumps(snap))
    elif venue == "hyperliquid":  # whole books in the stream: the first is a record too
        spec = resolve(exchange, market)
        snapshot, rest = hyperliquid_frames(symbol, frames)
        updates = [snapshot, *rest]
        writer = VenueCaptureWriter(path)
        ws_path = spec.stream_url("", [spec.diff_channel(symbol)])
        writer.write_header(t, CaptureHeader(spec.id, spec.market, (symbol,), ws_path))
        writer.write_rest(t, "listing", listing_of(exchange, market, symbol))
        subscription = {"type": "l2Book", "coin": symbol}
        writer.write(t, orjson.dumps({"channel": "subscriptionResponse", "data": {"method": "subscribe", "subscription": subscription}}))  # fmt: skip
    else:
        spec = resolve(exchange, market)
        snapshot, updates = gateio_frames(market, symbol, frames)
        writer = VenueCaptureWriter(path)
        ws_path = spec.stream_url("", [spec.diff_channel(symbol)])
        writer.write_header(t, CaptureHeader(spec.id, spec.market, (symbol,), ws_path))
        writer.write_rest(t, "listing", listing_of(exchange, market, symbol))
        writer.write_rest(t, "snapshot", snapshot, symbol=symbol)
    for i, frame in enumerate(updates):
        writer.write(t + (i + 1) * 1_000_000, frame)
    writer.close()
    return len(updates)


def run_ours(venue: str, ws_url: str, rest_url: str, bootstrap: str, prefix: str, updates: int) -> dict:
    """In this process: the venue's producer until `updates` records are acknowledged (the first
    update after the snapshot included)."""
    from config import KafkaSettings, ProducerSettings
    from producer.service import ProducerOptions, ProducerService

    exchange, market, symbol = VENUES[venue]
    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
    settings = ProducerSettings(
        exchange=exchange, market=market, symbols=[symbol], ws_url=ws_url, rest_url=rest_url,
        metrics_port=0, queue_max_messages=500_000, trades=False,
    )  # fmt: skip
    service = ProducerService(settings, kafka, ProducerOptions(http=False, snapshot_limit=1000))
    state = service.feed.symbols[symbol]

    async def run() -> dict:
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        # timed from the first frame received: at maximum speed most of the frames may arrive, and
        # be parsed and buffered, before the snapshot's answer; every one is published after it
        # ... and not forever: a service that stopped (e.g. UnknownSymbol from a listing without
        # the symbol; a Hyperliquid listing asked of a simulator without that coin is empty) or
        # that gets no frame is reported with its reason
        deadline = time.monotonic() + 60
        while service.feed.frames_in == 0:
            if task.done():
                await task  # its exception, else:
                raise RuntimeError(f"{venue}: the producer stopped before any frame")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{venue}: no frame within 60 s")
            await asyncio.sleep(0.0002)
        # Gate.io/COIN-M: the frames before this one were only buffered; Hyperliquid's need no
        # snapshot and may already be published: not counted
        first = state.records if service.spec.snapshot_in_stream else service.feed.frames_in - 1
        t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
        seen, progress = state.records, time.monotonic()
        while state.records < updates and not task.done() and time.monotonic() - progress < 20:
            await asyncio.sleep(0.005)
            if state.records != seen:
                seen, progress = state.records, time.monotonic()
        while service.publisher.delivered < service.publisher.produced:
            service.publisher.poll(0.005)
            await asyncio.sleep(0)
        wall, cpu, main = time.perf_counter() - t0, time.process_time() - c0, time.thread_time() - m0
        counters = state.sync.counters()
        stop.set()
        await task
        return {
            "venue": venue,
            "engine": "native" if service.feed.native else "python",
            "records": state.records,
            "timed": state.records - first,  # records of the frames received since timing began
            "wall_s": wall,
            "cpu_s": cpu,
            "main_thread_cpu_s": main,
            "resyncs": counters.resyncs,
            "gaps": counters.gaps,
            "stale": counters.stale_events + counters.stale_snapshots,
            "dlq": service.feed.dlq,
            "produced": service.publisher.produced,
            "delivered": service.publisher.delivered,
            "delivery_errors": service.publisher.delivery_errors,
        }

    return asyncio.run(run())


def compare(venues: list[str], frames: int, rounds: int) -> None:
    from bench.producer_cryptofeed import ours_command, run_client, start_broker, start_simulator
    from producer.publisher import create_topics_if_absent, topic_names

    tmp = Path(tempfile.mkdtemp(prefix="obm-bench-venues-kafka-"))
    broker = start_broker(tmp)
    sims, updates = {}, {}
    results: dict[str, list[dict]] = {v: [] for v in venues}
    loads = [os.getloadavg()[0]]
    try:
        for venue in venues:
            capture = tmp / f"{venue}.txt.gz"
            updates[venue] = write_capture(capture, venue, frames)
            sims[venue] = start_simulator(capture)
        for r in range(rounds):  # venues alternated within each round
            for venue in venues:
                _, ws_url, rest_url = sims[venue]
                prefix = f"v{r}{venue}."
                kafka = broker.settings.model_copy(update={"topic_prefix": prefix})
                create_topics_if_absent(kafka, list(topic_names(kafka)), partitions=3)
                cmd = ours_command(
                    "bench.producer_venues_kafka", ws_url, rest_url, broker.settings.bootstrap_servers, prefix,
                    updates[venue], "--venue", venue,
                )  # fmt: skip
                results[venue].append(run_client(cmd, dict(os.environ)))
                loads.append(os.getloadavg()[0])
    finally:
        for sim, _, _ in sims.values():
            sim.terminate()
            sim.wait(timeout=30)
        broker.stop()
    print(
        f"{frames} updates per venue replayed at maximum speed; {os.cpu_count()} cores, load average (1 min) "
        f"{min(loads):.1f}-{max(loads):.1f}"
    )
    print("| venue (engine) | round | records acked | of them timed | wall s | records/s wall | per CPU-second (process) | per CPU-second (main thread) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for venue, runs in results.items():
        for i, res in enumerate(runs):
            n = res["timed"]
            print(
                f"| {venue} ({res['engine']}) | {i + 1} | {res['records']:,} | {n:,} | {res['wall_s']:.2f} | "
                f"{n / res['wall_s']:,.0f} | {n / res['cpu_s']:,.0f} | {n / res['main_thread_cpu_s']:,.0f} |"
            )
        clean = all(
            r["records"] >= updates[venue] and r["delivered"] == r["produced"] == r["records"]
            and r["resyncs"] == r["gaps"] == r["stale"] == r["dlq"] == r["delivery_errors"] == 0
            for r in runs
        )  # fmt: skip
        median = statistics.median(r["timed"] / r["cpu_s"] for r in runs)
        print(f"{venue}: every update published and acknowledged, no resync/DLQ: {clean}; median {median:,.0f} per CPU-second")  # fmt: skip


def main() -> None:
    from bench.producer_cryptofeed import add_ours_role_arguments

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--venues", default=",".join(VENUES))
    add_ours_role_arguments(parser)
    parser.add_argument("--venue", choices=sorted(VENUES))
    args = parser.parse_args()
    if args.role == "ours":
        print(
            json.dumps(
                run_ours(args.venue, args.ws_url, args.rest_url, args.bootstrap, args.prefix, args.updates)
            )
        )
    else:
        compare(args.venues.split(","), args.frames, args.rounds)


if __name__ == "__main__":
    main()
