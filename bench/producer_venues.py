"""Producer hot path per venue: book messages per CPU-second through the feed alone (parse,
validate, chain check, apply to the exact book, checksum where the venue has one, build and
serialize the top-20 record) into a null sink, one venue at a time, in one process.

Frames: the simulator's own protocol modules make them from the market model (the same order
flow for every venue; sizes read as contracts on OKX swaps), so the shapes are the venues'
(OKX `books` with 4-string levels and the CRC32 of the top 25, Bybit `orderbook.50` deltas) and
the books are deep (300 levels per side). Binance spot through the Python engine on frames of
the same model is measured beside them for comparison (the compiled engine does not serve these
venues yet). Medians of `--rounds`; CPU of the feed's own thread.

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

from bench.producer_throughput import NullPublisher, hot_path, model_capture
from producer.exchanges import ExchangeSpec, bybit_linear, okx_swap
from producer.exchanges.spec import Instrument
from producer.simulator.bybit import BybitBook
from producer.simulator.market_model import SymbolModel
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


def stream_hot_path(
    spec: ExchangeSpec, symbol: str, instrument: Instrument, snapshot: bytes, frames: list[bytes]
) -> float:
    """Frames per CPU-second of this thread through StreamBookFeed.on_frame."""

    async def run() -> float:
        async def no_fetch(symbol: str):  # noqa: ANN202
            raise AssertionError("the snapshot comes in the stream")

        feed = StreamBookFeed(spec, [symbol], NullPublisher(), no_fetch)
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
        return len(frames) / cpu

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    okx = okx_frames("BTC-USDT-SWAP", args.frames)
    okx_inst = Instrument("BTC-USDT-SWAP", "live", True, "BTC", "USDT", "perp", Decimal("0.01"))
    bybit = bybit_frames("BTCUSDT", args.frames)
    bybit_inst = Instrument("BTCUSDT", "Trading", True, "BTC", "USDT", "perp")
    levels = sum(f.count(b'","0","1"]') for f in okx[1]) / len(okx[1])
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "model.txt.gz"
        model_capture(capture, args.frames, ["BTCUSDT"])
        figures: dict[str, list[float]] = {"okx_swap": [], "bybit_linear": [], "binance (python engine)": []}
        for _ in range(args.rounds):  # venues alternated within each round
            figures["okx_swap"].append(stream_hot_path(okx_swap.EXCHANGE, "BTC-USDT-SWAP", okx_inst, *okx))
            figures["bybit_linear"].append(
                stream_hot_path(bybit_linear.EXCHANGE, "BTCUSDT", bybit_inst, *bybit)
            )
            figures["binance (python engine)"].append(
                hot_path(capture, NullPublisher(), ["BTCUSDT"], "python")[1]
            )
    print(f"{args.frames} frames per venue, ~{levels:.1f} changed levels per frame, medians of {args.rounds}")
    for venue, values in figures.items():
        print(f"{venue:26s} {statistics.median(values):>9,.0f} frames per CPU-second of the feed's thread")


if __name__ == "__main__":
    main()
