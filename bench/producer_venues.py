"""Producer hot path per venue and engine: book messages per CPU-second through the feed alone
(parse, validate, chain check, apply to the exact book, checksum where the venue has one, build
and serialize the top-20 record) into a null sink, one venue at a time, in one process.

Frames: the simulator's own protocol modules make them from the market model (the same order
flow for every venue; sizes read as contracts on OKX swaps), so the shapes are the venues'
(OKX `books` with 4-string levels and the CRC32 of the top 25, Bybit `orderbook.50` deltas,
Gate.io `order_book_update` notifications on a book live from its REST snapshot: spot [price,
size] strings, futures {p, s} contracts converted to base units) and the books are deep (300
levels per side). OKX, Bybit and Hyperliquid run on both engines, the compiled one
(producer/native_stream_sync.py) and the Python reference; Gate.io and Binance COIN-M (`depthUpdate`
with pu/T of `BTCUSD_PERP`, sizes read as contracts of 100 USD, published as base units) have the
Python engine only.
Binance spot on frames of the same model is measured beside them on both engines for comparison.
Medians of `--rounds`; CPU of the feed's own thread.

Run: .venv/bin/python -m bench.producer_venues [--frames 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import orjson

from bench.producer_throughput import NullPublisher, hot_path, model_capture
from producer.exchanges import (
    ExchangeSpec,
    binance_coinm,
    bybit_linear,
    gateio_futures,
    gateio_spot,
    okx_spot,
    okx_swap,
)
from producer.exchanges.hyperliquid_perp import EXCHANGE as HYPERLIQUID_PERP
from producer.exchanges.spec import Instrument
from producer.feed import BookFeed
from producer.message_feed import MessageBookFeed
from producer.simulator.bybit import BybitBook
from producer.simulator.gateio import GateBook
from producer.simulator.hyperliquid import HyperliquidBook
from producer.simulator.market_model import SymbolModel, depth_update
from producer.simulator.okx import OkxBook, okx_text
from producer.stream_feed import StreamBookFeed


def okx_frames(inst: str, frames: int) -> tuple[bytes, list[bytes]]:
    book = OkxBook(inst, SymbolModel("BTCUSDT", seed=1))
    snapshot = book.message("snapshot", book.top("bids", 400), book.top("asks", 400), -1, book.checksum())
    out = []
    for _ in range(frames):
        _, _, bids, asks = book.model.step()
        b = [[okx_text(p), okx_text(s)] for p, s in bids.items()]
        a = [[okx_text(p), okx_text(s)] for p, s in asks.items()]
        book.apply(b, a)
        prev, book.seq = book.seq, book.seq + 1
        out.append(book.message("update", b, a, prev, book.checksum()))
    return snapshot, out


def bybit_frames(symbol: str, frames: int) -> tuple[bytes, list[bytes]]:
    book = BybitBook("linear", symbol, SymbolModel(symbol, seed=1))
    snapshot = book.snapshot()
    out = []
    for _ in range(frames):
        _, _, bids, asks = book.model.step()
        b = [[okx_text(p), okx_text(s)] for p, s in bids.items()]
        a = [[okx_text(p), okx_text(s)] for p, s in asks.items()]
        book.apply(b, a)
        book.u += 1
        out.append(book.message("delta", b, a))
    return snapshot, out


def gateio_frames(market: str, symbol: str, frames: int) -> tuple[bytes, list[bytes]]:
    """The REST snapshot (with id) and `frames` notifications, each one update id on."""
    book = GateBook(market, symbol, SymbolModel("BTCUSDT", seed=1))
    snapshot = orjson.dumps(book.snapshot(1000, with_id=True))
    out = []
    for _ in range(frames):
        _, _, bids, asks = book.model.step()
        b = [[okx_text(p), book.size_text(s)] for p, s in bids.items()]
        a = [[okx_text(p), book.size_text(s)] for p, s in asks.items()]
        book.apply(b, a)
        book.id += 1
        out.append(book.message(book.id, book.id, b, a))
    return snapshot, out


def coinm_frames(symbol: str, frames: int) -> tuple[bytes, list[bytes]]:
    """Binance COIN-M: the REST snapshot and `frames` combined-stream `depthUpdate`s chained by pu
    (sizes read as contracts)."""
    model = SymbolModel("BTCUSDT", seed=1)
    snap = model.snapshot(1000)
    # USD-M's rule: the first event spans the snapshot's id (U <= L <= u); sizes are absolute, so
    # a snapshot at the first event's U is the same book
    snap.update(E=1_723_161_255_000, T=1_723_161_255_000, lastUpdateId=model.update_id + 1)
    stream, pair = f"{symbol.lower()}@depth@100ms", symbol.partition("_")[0]
    out, prev = [], model.update_id
    for i in range(frames):
        first, final, bids, asks = model.step()
        data = depth_update(symbol, 1_723_161_255_001 + i, first, final, bids, asks)
        data.update(T=data["E"], ps=pair, pu=prev)
        prev = final
        out.append(orjson.dumps({"stream": stream, "data": data}))
    return orjson.dumps(snap), out


def rest_hot_path(
    spec: ExchangeSpec,
    symbol: str,
    instrument: Instrument,
    snapshot: bytes,
    frames: list[bytes],
    feed_class: type[BookFeed] = MessageBookFeed,
) -> float:
    """Frames per CPU-second of this thread through `feed_class`.on_frame (Gate.io's
    MessageBookFeed, Binance's BookFeed for COIN-M), the book live from its REST snapshot."""

    async def run() -> float:
        async def no_fetch(symbol: str):  # noqa: ANN202
            raise AssertionError("the book is live before the first frame")

        feed = feed_class(spec, [symbol], NullPublisher(), no_fetch)
        sync = feed.symbols[symbol].sync
        sync.use_instrument(instrument)
        sync.on_snapshot(spec.parse_snapshot(orjson.loads(snapshot)), lambda ev: None)
        now = time.time_ns
        c0 = time.thread_time()
        on_frame = feed.on_frame
        for raw in frames:
            on_frame(raw, now())
        cpu = time.thread_time() - c0
        report = feed.book_reports()[0]
        assert feed.dlq == 0 and report.counters.gaps == 0 and report.records == len(frames), report
        return len(frames) / cpu

    return asyncio.run(run())


def hyperliquid_frames(coin: str, frames: int) -> tuple[bytes, list[bytes]]:
    """Whole l2Book messages (20 levels per side), one per model step, each at a later time."""
    book = HyperliquidBook(coin, SymbolModel("BTCUSDT", seed=1))
    snapshot = book.message()
    out = []
    for _ in range(frames):
        _, _, bids, asks = book.model.step()
        book.apply(
            [[okx_text(p), okx_text(s)] for p, s in bids.items()],
            [[okx_text(p), okx_text(s)] for p, s in asks.items()],
        )
        out.append(book.message())
    return snapshot, out


def stream_hot_path(
    spec: ExchangeSpec,
    symbol: str,
    instrument: Instrument,
    snapshot: bytes,
    frames: list[bytes],
    engine: str,
) -> float:
    """Frames per CPU-second of this thread through StreamBookFeed.on_frame on `engine`."""

    async def run() -> float:
        async def no_fetch(symbol: str):  # noqa: ANN202
            raise AssertionError("the snapshot comes in the stream")

        feed = StreamBookFeed(spec, [symbol], NullPublisher(), no_fetch, engine=engine)
        assert feed.native == (engine == "native"), (spec.id, engine)
        feed.symbols[symbol].sync.use_instrument(instrument)
        now = time.time_ns
        feed.on_frame(snapshot, now())
        c0 = time.thread_time()
        on_frame = feed.on_frame
        for raw in frames:
            on_frame(raw, now())
        cpu = time.thread_time() - c0
        report = feed.book_reports()[0]
        assert feed.dlq == 0 and report.counters.gaps == 0 and report.counters.checksum_mismatches == 0
        assert report.records == len(frames) + 1, report.records
        assert feed.native_deferred <= 1, feed.native_deferred  # the snapshot only
        return len(frames) / cpu

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    okx = okx_frames("BTC-USDT-SWAP", args.frames)
    okx_inst = Instrument("BTC-USDT-SWAP", "live", True, "BTC", "USDT", "perp", Decimal("0.01"))
    okx_spot_frames = okx_frames("BTC-USDT", args.frames)
    okx_spot_inst = Instrument("BTC-USDT", "live", True, "BTC", "USDT", "spot")
    bybit = bybit_frames("BTCUSDT", args.frames)
    bybit_inst = Instrument("BTCUSDT", "Trading", True, "BTC", "USDT", "perp")
    hyperliquid = hyperliquid_frames("BTC", args.frames)
    hyperliquid_inst = Instrument("BTC", "listed", True, "BTC", "USDC", "perp", venue_name="BTC")
    gate_spot = gateio_frames("spot", "BTC_USDT", args.frames)
    gate_spot_inst = Instrument("BTC_USDT", "tradable", True, "BTC", "USDT", "spot")
    gate_futures = gateio_frames("futures", "BTC_USDT", args.frames)
    gate_futures_inst = Instrument("BTC_USDT", "trading", True, "BTC", "USDT", "perp", Decimal("0.0001"))
    coinm = coinm_frames("BTCUSD_PERP", args.frames)
    coinm_inst = Instrument("BTCUSD_PERP", "TRADING", True, "BTC", "USD", "perp", Decimal(100), inverse=True)
    levels = sum(f.count(b'","0","1"]') for f in okx[1]) / len(okx[1])
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "model.txt.gz"
        model_capture(capture, args.frames, ["BTCUSDT"])
        stream_venues = [
            ("okx (spot)", okx_spot.EXCHANGE, "BTC-USDT", okx_spot_inst, okx_spot_frames),
            ("okx_swap", okx_swap.EXCHANGE, "BTC-USDT-SWAP", okx_inst, okx),
            ("bybit_linear", bybit_linear.EXCHANGE, "BTCUSDT", bybit_inst, bybit),
            ("hyperliquid (perp)", HYPERLIQUID_PERP, "BTC", hyperliquid_inst, hyperliquid),
        ]
        engines = ("native", "python")
        figures: dict[str, list[float]] = {
            f"{name} ({engine} engine)": [] for name, *_ in stream_venues for engine in engines
        }
        figures.update({"gateio (spot)": [], "gateio_futures": [], "binance_coinm (python engine)": []})
        figures.update({f"binance ({engine} engine)": [] for engine in engines})
        for _ in range(args.rounds):  # venues and engines alternated within each round
            for name, spec, symbol, instrument, (snapshot, frames) in stream_venues:
                for engine in engines:
                    figures[f"{name} ({engine} engine)"].append(
                        stream_hot_path(spec, symbol, instrument, snapshot, frames, engine)
                    )
            figures["gateio (spot)"].append(
                rest_hot_path(gateio_spot.EXCHANGE, "BTC_USDT", gate_spot_inst, *gate_spot)
            )
            figures["gateio_futures"].append(
                rest_hot_path(gateio_futures.EXCHANGE, "BTC_USDT", gate_futures_inst, *gate_futures)
            )
            figures["binance_coinm (python engine)"].append(
                rest_hot_path(binance_coinm.EXCHANGE, "BTCUSD_PERP", coinm_inst, *coinm, feed_class=BookFeed)
            )
            for engine in engines:
                figures[f"binance ({engine} engine)"].append(
                    hot_path(capture, NullPublisher(), ["BTCUSDT"], engine)[1]
                )
    print(f"{args.frames} frames per venue, ~{levels:.1f} changed levels per frame, medians of {args.rounds}")
    for venue, values in figures.items():
        print(f"{venue:34s} {statistics.median(values):>9,.0f} frames per CPU-second of the feed's thread")


if __name__ == "__main__":
    main()
