"""Native engine == Python engine for the venues that send the book in the stream (OKX spot and
swaps, linear and inverse; Bybit spot, linear and inverse; Hyperliquid), frame for frame: the
same records byte for byte, the same DLQ records (reasons included), the same resync decisions
and counters, on long streams of each venue's own messages made by the simulator's protocol
modules from the market model, salted with what goes wrong: wrong checksums, lost updates
(broken chains), resent and out-of-order messages, malformed JSON and invalid levels, Bybit's
u == 1 restart, repeated snapshots, unknown instruments, control messages and trades. Each
venue's listing is given to the books as the service does at start (contract sizes, the
instrument at the end of every record). The compiled path hands back every frame it does not
take, so any difference here means it took a frame the reference treats differently; and it
must take the live books' updates, which is checked too."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import native_engine_required  # noqa: F401 - first: skips or fails this module without the engine
import orjson
import pytest
from bytes_publisher import BytesPublisher

from producer.exchanges import ExchangeSpec, bybit_inverse, bybit_linear, bybit_spot, okx_spot, okx_swap
from producer.exchanges.hyperliquid_perp import EXCHANGE as HYPERLIQUID_PERP
from producer.exchanges.hyperliquid_spot import EXCHANGE as HYPERLIQUID_SPOT
from producer.exchanges.spec import Instrument
from producer.native_stream_sync import NativeSnapshotStreamSync, NativeStreamBookSync
from producer.simulator.bybit import BybitBook
from producer.simulator.hyperliquid import HyperliquidBook
from producer.simulator.market_model import SymbolModel
from producer.simulator.okx import OkxBook, okx_text
from producer.stream_feed import StreamBookFeed
from producer.stream_sync import SnapshotStreamSync, StreamBookSync

pytestmark = pytest.mark.unit

Frames = list[bytes]


def _changes(model: SymbolModel) -> tuple[list[list[str]], list[list[str]]]:
    _, _, bids, asks = model.step()
    return (
        [[okx_text(p), okx_text(s)] for p, s in bids.items()],
        [[okx_text(p), okx_text(s)] for p, s in asks.items()],
    )


BIG = "2**64"  # stands for an integer of 2**64 (orjson writes none that large)


def _edit(frame: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    msg = orjson.loads(frame)
    change(msg)
    return orjson.dumps(msg).replace(b'"2**64"', str(1 << 64).encode())


def okx_stream(inst: str, n: int, rng: random.Random) -> Iterator[bytes]:
    book = OkxBook(inst, SymbolModel("BTCUSDT", seed=rng.randrange(1000)))

    def snapshot() -> bytes:
        return book.message("snapshot", book.top("bids", 400), book.top("asks", 400), -1, book.checksum())

    yield snapshot()
    sent: list[bytes] = []
    for _ in range(n):
        bids, asks = _changes(book.model)
        book.apply(bids, asks)
        prev, book.seq = book.seq, book.seq + 1
        frame = book.message("update", bids, asks, prev, book.checksum())
        r = rng.random()
        if r < 0.01:  # a wrong checksum: resync
            yield _edit(frame, lambda m: m["data"][0].update(checksum=m["data"][0]["checksum"] ^ 1))
        elif r < 0.02:  # lost: a broken chain
            pass
        elif r < 0.03 and sent:  # a resend of an older update: stale
            yield rng.choice(sent[-5:])
            yield frame
        elif r < 0.04:  # invalid levels, malformed JSON, a seqId that is no integer, no checksum
            yield rng.choice(
                [
                    _edit(frame, lambda m: m["data"][0]["bids"].append(["-1", "1", "0", "1"])),
                    _edit(frame, lambda m: m["data"][0]["asks"].append(["1.000000001", "1", "0", "1"])),
                    _edit(frame, lambda m: m["data"][0].update(seqId=1.5)),
                    _edit(frame, lambda m: m["data"][0].update(seqId=BIG)),
                    _edit(frame, lambda m: m["data"][0].update(ts="\u00b2")),
                    _edit(frame, lambda m: m["data"][0]["bids"].append(["1"])),
                    frame[:-3],
                ]
            )
            yield _edit(frame, lambda m: m["data"][0].pop("checksum"))
        elif r < 0.05:  # the venue's no-change message (seqId == prevSeqId), checksum 0
            yield frame
            yield book.message("update", [], [], book.seq, 0)
        elif r < 0.06:  # control messages, trades, an unknown instrument, an OKX error
            yield rng.choice(
                [
                    b"pong",
                    b'{"event":"subscribe","arg":{"channel":"books","instId":"%s"}}' % inst.encode(),
                    b'{"event":"error","code":"60012","msg":"Invalid request"}',
                    b'{"arg":{"channel":"trades","instId":"%s"},"data":[]}' % inst.encode(),
                    frame.replace(inst.encode(), b"ETH-USDT"),
                ]
            )
            yield frame
        else:
            yield frame
        sent.append(frame)
        if rng.random() < 0.03:  # a (re)subscription's answer: the whole book again
            yield snapshot()


def bybit_stream(category: str, symbol: str, n: int, rng: random.Random) -> Iterator[bytes]:
    book = BybitBook(category, symbol, SymbolModel(symbol, seed=rng.randrange(1000)))
    yield book.snapshot()
    sent: list[bytes] = []
    for _ in range(n):
        bids, asks = _changes(book.model)
        book.apply(bids, asks)
        book.u += 1
        frame = book.message("delta", bids, asks)
        r = rng.random()
        if r < 0.01:  # lost: a broken chain
            pass
        elif r < 0.02 and sent:  # resent: stale
            yield rng.choice(sent[-5:])
            yield frame
        elif r < 0.03:  # Bybit restarted its service: u == 1, a fresh snapshot
            book.u = 1
            frame = book.snapshot()
            yield frame
        elif r < 0.04:
            yield rng.choice(
                [
                    _edit(frame, lambda m: m["data"]["b"].append(["0", "1"])),
                    _edit(frame, lambda m: m["data"]["a"].append(["1", "1", "1"])),
                    _edit(frame, lambda m: m["data"].update(u="7")),
                    _edit(frame, lambda m: m["data"].update(u=BIG)),
                    _edit(frame, lambda m: m.update(cts=BIG)),
                    _edit(frame, lambda m: m.update(type="other")),
                    _edit(frame, lambda m: m.update(cts=None)),
                    _edit(frame, lambda m: m["data"].update(s="OTHER")),
                    frame[:-1],
                    b'{"op":"ping","success":true}',
                    b'{"op":"subscribe","success":false,"ret_msg":"no"}',
                ]
            )
            yield frame
        else:
            yield frame
        sent.append(frame)
        if rng.random() < 0.03:  # a resubscription's answer or Bybit repeating the snapshot
            yield book.snapshot()


def hyperliquid_stream(coin: str, n: int, rng: random.Random) -> Iterator[bytes]:
    book = HyperliquidBook(coin, SymbolModel("BTCUSDT", seed=rng.randrange(1000)))
    yield book.message()
    for _ in range(n):
        book.apply(*_changes(book.model))
        frame = book.message()
        r = rng.random()
        if r < 0.03:  # the venue repeating a book, or an older one arriving late
            yield rng.choice(book.sent[-4:])
        elif r < 0.05:
            yield rng.choice(
                [
                    _edit(frame, lambda m: m["data"]["levels"][0].reverse()),
                    _edit(frame, lambda m: m["data"]["levels"][1][0].update(sz="0")),
                    _edit(frame, lambda m: m["data"].update(time=-1)),
                    _edit(frame, lambda m: m["data"].update(time=BIG)),
                    _edit(frame, lambda m: m["data"].update(coin="ETH")),
                    b'{"channel":"pong"}',
                    b'{"channel":"subscriptionResponse","data":{}}',
                    frame[:-2],
                ]
            )
        yield frame


def _state(feed: StreamBookFeed) -> list[tuple[Any, ...]]:
    """What observability reads (state, reason, counters, records, DLQ), the book's id and the
    feed's counts; `since` is each feed's own wall clock, so it is left out."""
    return [
        (r.status.symbol, r.status.state, r.status.reason, r.counters, r.records, r.dlq)
        for r in feed.book_reports()
    ] + [(s.sync.local_id, s.sync.live) for s in feed.symbols.values()] + [
        (feed.frames_in, feed.dlq, feed.lag_buckets, feed.lag_sum_ms, feed.lag_count)
    ]  # fmt: skip


def run_both(
    spec: ExchangeSpec, symbol: str, instrument: Instrument, frames: Frames
) -> tuple[StreamBookFeed, ...]:
    """Both engines' feeds through the same frames, compared after every frame; the book's stream
    renamed to the venue's name first where the listing gives one, as the service does."""

    async def run() -> tuple[StreamBookFeed, ...]:
        async def no_fetch(symbol: str) -> Any:
            raise AssertionError("the snapshot comes in the stream")

        pubs = BytesPublisher(), BytesPublisher()
        feeds = tuple(
            StreamBookFeed(spec, [symbol], pub, no_fetch, engine=engine)
            for pub, engine in zip(pubs, ("python", "native"), strict=True)
        )
        assert not feeds[0].native and feeds[1].native
        for feed in feeds:
            feed.symbols[symbol].sync.use_instrument(instrument)
            if instrument.venue_name is not None:
                feed.rename_streams({spec.diff_channel(symbol): spec.diff_channel(instrument.venue_name)})
        t = 1_700_000_000_000_000_000
        for i, raw in enumerate(frames):
            t += 1_000_000
            answers = [feed.on_frame(raw, t) for feed in feeds]
            assert answers[0] == answers[1], i
            assert pubs[0].raw == pubs[1].raw, (i, raw[:200])
            assert pubs[0].dlq == pubs[1].dlq, (i, raw[:200])
            assert _state(feeds[0]) == _state(feeds[1]), (i, raw[:200])
        for feed in feeds:
            await feed.stop()
        return feeds

    return asyncio.run(run())


def _check(feeds: tuple[StreamBookFeed, ...], frames: Frames, resyncs: bool = True) -> None:
    python, native = feeds
    report = python.book_reports()[0]
    # the salt did its job: both engines refused, resynced and published the same
    assert report.records > len(frames) // 2 and python.dlq > 0 and report.counters.stale_events > 0
    if resyncs:
        assert report.counters.resyncs > 0
    # and the compiled path made the record of every update: the Python path only the snapshots'
    made_in_python = native.lag_count - native._frame_path.lag_count  # type: ignore[union-attr]
    assert made_in_python == report.counters.syncs, (made_in_python, report.counters)
    assert native._frame_path.lag_count == report.records - report.counters.syncs  # type: ignore[union-attr]


OKX_CASES = [
    (okx_spot.EXCHANGE, "BTC-USDT", Instrument("BTC-USDT", "live", True, "BTC", "USDT", "spot")),
    (
        okx_swap.EXCHANGE,
        "BTC-USDT-SWAP",
        Instrument("BTC-USDT-SWAP", "live", True, "BTC", "USDT", "perp", Decimal("0.01")),
    ),
    (
        okx_swap.EXCHANGE,
        "BTC-USD-SWAP",
        Instrument("BTC-USD-SWAP", "live", True, "BTC", "USD", "perp", Decimal("100"), inverse=True),
    ),
]


@pytest.mark.parametrize(("spec", "inst", "instrument"), OKX_CASES, ids=["spot", "linear", "inverse"])
def test_okx_native_equals_python(spec: ExchangeSpec, inst: str, instrument: Instrument) -> None:
    frames = list(okx_stream(inst, 1500, random.Random(14)))
    feeds = run_both(spec, inst, instrument, frames)
    _check(feeds, frames)
    counters = feeds[0].book_reports()[0].counters
    assert counters.checksum_mismatches > 0 and counters.gaps > 0


BYBIT_CASES = [
    (bybit_spot.EXCHANGE, "spot", "BTCUSDT", Instrument("BTCUSDT", "Trading", True, "BTC", "USDT", "spot")),
    (
        bybit_linear.EXCHANGE,
        "linear",
        "BTCUSDT",
        Instrument("BTCUSDT", "Trading", True, "BTC", "USDT", "perp"),
    ),
    (
        bybit_inverse.EXCHANGE,
        "inverse",
        "BTCUSD",
        Instrument("BTCUSD", "Trading", True, "BTC", "USD", "perp", Decimal(1), inverse=True),
    ),
]


@pytest.mark.parametrize(
    ("spec", "category", "symbol", "instrument"), BYBIT_CASES, ids=["spot", "linear", "inverse"]
)
def test_bybit_native_equals_python(
    spec: ExchangeSpec, category: str, symbol: str, instrument: Instrument
) -> None:
    frames = list(bybit_stream(category, symbol, 1500, random.Random(15)))
    feeds = run_both(spec, symbol, instrument, frames)
    _check(feeds, frames)
    assert feeds[0].book_reports()[0].counters.gaps > 0


def test_hyperliquid_native_equals_python() -> None:
    instrument = Instrument("BTC", "listed", True, "BTC", "USDC", "perp", venue_name="BTC")
    frames = list(hyperliquid_stream("BTC", 1500, random.Random(16)))
    feeds = run_both(HYPERLIQUID_PERP, "BTC", instrument, frames)
    _check(feeds, frames, resyncs=False)


def test_hyperliquid_spot_books_are_routed_by_the_venues_coin() -> None:
    """A spot pair streams as `@107`: the stream renamed from the listing reaches the native path."""
    instrument = Instrument("HYPE-USDC", "listed", True, "HYPE", "USDC", "spot", venue_name="@107")
    frames = list(hyperliquid_stream("@107", 300, random.Random(17)))
    feeds = run_both(HYPERLIQUID_SPOT, "HYPE-USDC", instrument, frames)
    _check(feeds, frames, resyncs=False)


def test_the_engine_setting_chooses_the_compiled_twin() -> None:
    from producer.feed import choose_engine

    assert choose_engine("native", "diff", okx_spot.EXCHANGE) is NativeStreamBookSync
    assert choose_engine("auto", "diff", bybit_linear.EXCHANGE) is NativeStreamBookSync
    assert choose_engine("native", "diff", HYPERLIQUID_PERP) is NativeSnapshotStreamSync
    assert choose_engine("python", "diff", okx_swap.EXCHANGE) is StreamBookSync
    assert choose_engine("python", "diff", HYPERLIQUID_PERP) is SnapshotStreamSync


def test_a_book_without_its_instrument_says_so_on_both_engines() -> None:
    frames = list(okx_stream("BTC-USDT-SWAP", 3, random.Random(1)))[:2]
    for engine in ("python", "native"):

        async def run(engine: str = engine) -> None:
            async def no_fetch(symbol: str) -> Any:
                raise AssertionError

            feed = StreamBookFeed(
                okx_swap.EXCHANGE, ["BTC-USDT-SWAP"], BytesPublisher(), no_fetch, engine=engine
            )
            with pytest.raises(RuntimeError, match="instrument unknown"):
                feed.on_frame(frames[0], 1)

        asyncio.run(run())
