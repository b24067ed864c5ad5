"""Our producer side by side with cryptofeed 2.4.1 on OKX and Bybit: the same book from the same
replay, in one run, alternating, and the ratio (bench/producer_cryptofeed.py does Binance).

What runs, per venue (OKX spot `BTC-USDT`, Bybit linear `BTCUSDT`: markets whose sizes are base
units on the wire, so both clients keep the same numbers):
  - a venue capture (producer/venue_capture.py) made here: the listing the simulator serves for the
    symbol, then the venue's own book messages from bench.producer_venues (OKX `books`: a 400-level
    snapshot then updates with seqId/prevSeqId and the CRC32 checksum; Bybit `orderbook.50`: the
    snapshot then deltas with u + 1) from the market model, 1 ms apart;
  - the simulator (its own process) replays it at maximum speed over TLS (cryptofeed takes only
    wss://; self-signed certificate trusted through SSL_CERT_FILE / REQUESTS_CA_BUNDLE): its venue
    replay answers the venue's WebSocket path (every recorded frame once a client subscribed) and
    the listing path (cryptofeed's symbol requests included, whatever their query);
  - ours (its own process, `--role ours`): the real ProducerService of that venue on the engine its
    settings choose (OBM_PRODUCER_ENGINE; auto: the compiled one where it is built), every book state
    an orderbook.raw record into a real local Kafka broker, timed from the first record to the last
    acknowledged; it checks OKX's checksum on every message, cryptofeed (default
    checksum_validation=False) does not;
  - cryptofeed (its own process, its venv .cache/cryptofeed-venv):
    bench/producer_cryptofeed_venues_peer.py, the OKX or Bybit feed pointed at the simulator, an
    L2_BOOK callback that only counts, uvloop; timed from the first callback (the snapshot) to the
    last. It does less than ours (no chain or checksum check, no serialization, no Kafka).
At the end both report their top 20 levels per side, which must be equal.

Before the rounds, one warm-up round (`--warmup`) runs both clients the same way and is reported
apart, not counted: without it the first client of the first round (ours) met a broker and a
simulator just started, and its round came out 10-15% lower per CPU-second than the next ones
(2026-12-06: 97-119k against 118-126k on OKX, while cryptofeed's rounds 1 and 2 were equal).

Run: .venv/bin/python -m bench.producer_cryptofeed_venues [--frames 20000] [--rounds 2] [--warmup 1] [--venues okx,bybit]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# venue -> (exchange, market, symbol)
VENUES = {
    "okx": ("okx", "spot", "BTC-USDT"),
    "bybit": ("bybit", "linear", "BTCUSDT"),
}


def listing_of(exchange: str, market: str, symbol: str) -> bytes:
    """What the simulator's venue answers to the producer's own listing request for the symbol
    (producer.rest.listing_request: a GET, or a POST of the venue's body as Hyperliquid's `/info`)."""
    import aiohttp

    from config import SimulatorSettings
    from producer.exchanges import resolve
    from producer.rest import listing_request
    from producer.simulator import Simulator

    spec = resolve(exchange, market)

    async def ask() -> bytes:
        sim = Simulator(SimulatorSettings(port=0, symbols=[symbol]))
        await sim.start()
        try:
            timeout = aiohttp.ClientTimeout(total=30)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                listing_request(spec, session, sim.rest_url) as resp,
            ):
                answer = await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"listing of {spec.id}: HTTP {resp.status}: {answer[:200]!r}")
                return answer
        finally:
            await sim.stop()

    return asyncio.run(ask())


def write_capture(path: Path, venue: str, frames: int) -> int:
    """A venue capture of the symbol's snapshot and `frames` updates; returns the book messages."""
    from bench.producer_venues import bybit_frames, okx_frames
    from producer.exchanges import resolve
    from producer.venue_capture import CaptureHeader, VenueCaptureWriter

    exchange, market, symbol = VENUES[venue]
    spec = resolve(exchange, market)
    snapshot, updates = okx_frames(symbol, frames) if venue == "okx" else bybit_frames(symbol, frames)
    ws_path = spec.stream_url("", [spec.diff_channel(symbol)])
    writer = VenueCaptureWriter(path)
    t = time.time_ns()
    writer.write_header(t, CaptureHeader(spec.id, spec.market, (symbol,), ws_path))
    listing = listing_of(exchange, market, symbol)
    if venue == "bybit":  # the simulator's entries lack Bybit's priceFilter, which cryptofeed reads
        body = json.loads(listing)
        for entry in body["result"]["list"]:
            entry.setdefault("priceFilter", {"tickSize": "0.01"})
        listing = json.dumps(body).encode()
    writer.write_rest(t, "listing", listing)
    for i, frame in enumerate([snapshot, *updates]):
        writer.write(t + i * 1_000_000, frame)
    writer.close()
    return 1 + len(updates)


# -- our side ------------------------------------------------------------------------------------


def run_ours(venue: str, ws_url: str, rest_url: str, bootstrap: str, prefix: str, updates: int) -> dict:
    """In this process: the venue's producer until `updates` records are acknowledged."""
    from config import KafkaSettings, ProducerSettings
    from producer.book import to_text
    from producer.service import ProducerOptions, ProducerService

    exchange, market, symbol = VENUES[venue]
    kafka = KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=prefix)
    settings = ProducerSettings(
        exchange=exchange, market=market, symbols=[symbol], ws_url=ws_url, rest_url=rest_url,
        metrics_port=0, queue_max_messages=500_000, trades=False,  # books only, as measured before
    )  # fmt: skip
    service = ProducerService(settings, kafka, ProducerOptions(http=False))
    state = service.feed.symbols[symbol]

    async def run() -> dict:
        stop = asyncio.Event()
        task = asyncio.create_task(service.run(stop))
        while state.records == 0:
            await asyncio.sleep(0.0005)
        t0, c0, m0 = time.perf_counter(), time.process_time(), time.thread_time()
        seen, progress = state.records, time.monotonic()
        while state.records < updates and not task.done() and time.monotonic() - progress < 20:
            await asyncio.sleep(0.005)
            if state.records != seen:  # a replay that stops short is reported, not waited for
                seen, progress = state.records, time.monotonic()
        while service.publisher.delivered < service.publisher.produced:
            service.publisher.poll(0.005)
            await asyncio.sleep(0)
        wall, cpu, main = time.perf_counter() - t0, time.process_time() - c0, time.thread_time() - m0
        book = state.sync.book
        bids = [[to_text(p), to_text(s)] for p, s in book.levels("bids", 20)]
        asks = [[to_text(p), to_text(s)] for p, s in book.levels("asks", 20)]
        counters = state.sync.counters()
        stop.set()
        await task
        engine = "native" if service.feed.native else "python"
        return {
            "client": f"obm producer ({engine} engine) -> Kafka ({venue})",
            "updates": state.records,
            "wall_s": wall,
            "cpu_s": cpu,
            "main_thread_cpu_s": main,
            "resyncs": counters.resyncs,
            "dlq": service.feed.dlq,
            "delivery_errors": service.publisher.delivery_errors,
            "bids": bids,
            "asks": asks,
        }

    return asyncio.run(run())


# -- the comparison ------------------------------------------------------------------------------


def compare(venues: list[str], frames: int, rounds: int, warmup: int = 1) -> None:
    from bench.producer_cryptofeed import (
        client_env,
        ensure_peer_venv,
        ours_command,
        run_client,
        same_levels,
        self_signed_cert,
        start_broker,
        start_simulator,
    )
    from producer.publisher import create_topics_if_absent, topic_names

    peer_python = ensure_peer_venv()
    tmp = Path(tempfile.mkdtemp(prefix="obm-bench-cryptofeed-venues-"))
    cert, key = self_signed_cert(tmp)
    env = client_env(cert)
    broker = start_broker(tmp)
    sims = {}
    messages = {}
    try:
        for venue in venues:
            capture = tmp / f"{venue}.txt.gz"
            messages[venue] = write_capture(capture, venue, frames)
            sims[venue] = start_simulator(capture, cert, key)
        loads = [os.getloadavg()[0]]
        results: dict[tuple[str, str], list[dict]] = {
            (v, c): [] for v in venues for c in ("ours", "cryptofeed")
        }

        warm: list[str] = []
        for r in range(warmup + rounds):  # alternated, so every client sees the same machine load
            for venue in venues:
                _, ws_url, rest_url = sims[venue]
                prefix = f"cmp{r}{venue}."
                kafka = broker.settings.model_copy(update={"topic_prefix": prefix})
                create_topics_if_absent(kafka, list(topic_names(kafka)), partitions=3)
                cmd = ours_command(
                    "bench.producer_cryptofeed_venues", ws_url, rest_url, broker.settings.bootstrap_servers,
                    prefix, messages[venue], "--venue", venue,
                )  # fmt: skip
                ours_result = run_client(cmd, env)
                peer = [
                    str(peer_python),
                    str(REPO / "bench" / "producer_cryptofeed_venues_peer.py"),
                    "--venue",
                    venue,
                ]
                peer += ["--ws-url", ws_url, "--rest-url", rest_url, "--updates", str(messages[venue])]
                peer += ["--log-file", str(tmp / f"feedhandler-{venue}.log")]
                peer_result = run_client(peer, env)
                if r < warmup:
                    for res in (ours_result, peer_result):
                        warm.append(
                            f"{venue}: {res['client']}: {res['updates'] / res['cpu_s']:,.0f} per CPU-second"
                        )
                    continue
                results[(venue, "ours")].append(ours_result)
                results[(venue, "cryptofeed")].append(peer_result)
                loads.append(os.getloadavg()[0])
    finally:
        for sim, _, _ in sims.values():
            sim.terminate()
            sim.wait(timeout=30)
        broker.stop()

    print(f"input per venue: 1 snapshot + {frames} updates, replayed over wss:// at maximum speed")
    for line in warm:
        print(f"warm-up round (not counted): {line}")
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average (1 min) "
        f"during the rounds {min(loads):.1f}-{max(loads):.1f}"
    )
    print(
        "| venue | client | round | updates | wall s | updates/s (wall) | updates per CPU-second (process) |"
    )
    print("|---|---|---|---|---|---|---|")
    rates: dict[tuple[str, str], list[float]] = {k: [] for k in results}
    cpu_rates: dict[tuple[str, str], list[float]] = {k: [] for k in results}
    for (venue, client), runs in results.items():
        for i, res in enumerate(runs):
            rate, cpu_rate = res["updates"] / res["wall_s"], res["updates"] / res["cpu_s"]
            rates[(venue, client)].append(rate)
            cpu_rates[(venue, client)].append(cpu_rate)
            print(
                f"| {venue} | {res['client']} | {i + 1} | {res['updates']:,} | {res['wall_s']:.2f} | {rate:,.0f} | "
                f"{cpu_rate:,.0f} |"
            )
    failed = []
    for venue in venues:
        ours, theirs = results[(venue, "ours")], results[(venue, "cryptofeed")]
        clean = all(r["resyncs"] == 0 and r["dlq"] == 0 and r["delivery_errors"] == 0 for r in ours)
        same = all(
            same_levels(o["bids"], c["bids"]) and same_levels(o["asks"], c["asks"])
            for o, c in zip(ours, theirs, strict=True)
        )
        complete = all(r["updates"] >= messages[venue] for r in ours + theirs)
        ratio = statistics.median(rates[(venue, "ours")]) / statistics.median(rates[(venue, "cryptofeed")])
        cpu_ratio = statistics.median(cpu_rates[(venue, "ours")]) / statistics.median(
            cpu_rates[(venue, "cryptofeed")]
        )
        print(
            f"{venue}: every message in both: {complete}; no resync/DLQ/delivery error (ours): {clean}; "
            f"same top-20 book at the end in every round: {same}; ratio ours / cryptofeed (medians): "
            f"{ratio:.2f}x updates/s (wall), {cpu_ratio:.2f}x per CPU-second"
        )
        if not (complete and clean and same):
            failed.append(venue)
    if failed:
        raise SystemExit(f"the clients did not keep the same books: {failed}")


def main() -> None:
    from bench.producer_cryptofeed import add_ours_role_arguments

    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (reported apart)")
    parser.add_argument("--venues", default="okx,bybit")
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
        compare(args.venues.split(","), args.frames, args.rounds, args.warmup)


if __name__ == "__main__":
    main()
