"""Books kept from a bounded REST snapshot (issue 14): a snapshot asked for `limit` levels that
comes back full is only the top of a deeper book. Below its last level the producer knows only
the levels an update touched since, so once deletes inside that boundary leave fewer levels known
complete than the record publishes, the book must be resynced (a new snapshot) rather than
published with levels it never saw (the Gate.io replay flake of fafc881, fixed then on the test
side only: the product asks Gate.io for 100 levels).

Golden tests: a venue's true book of 150 levels per side is served over HTTP (loopback) by a
stand-in of its REST depth endpoint, cut to the `limit` asked, and changed by crafted update
frames fed to the real feed, which fetches its snapshots through the real SnapshotClient. Every
published record must equal the true top 20 at its update id, and the update that leaves the
book short must publish nothing and bring a new snapshot. A whole book (fewer levels than the
limit) never resyncs, however thin it gets. Gate.io spot runs the Python engine; Binance spot and
USD-M run both engines (the compiled one mirrors the rule), and they must publish the same bytes.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from bytes_publisher import BytesPublisher

from producer.book import SCALE, OrderBook
from producer.exchanges import binance_spot, binance_usdm, gateio_spot
from producer.exchanges.spec import ExchangeSpec, Instrument
from producer.feed import BookFeed
from producer.message_feed import MessageBookFeed
from producer.ratelimit import WeightLimiter
from producer.rest import SnapshotClient
from producer.sync import BookSync

pytestmark = pytest.mark.unit

LIMIT = 100  # Gate.io's snapshot depth in the product
DEPTH = 20  # levels per side published
NATIVE = importlib.util.find_spec("obm_book_native") is not None


@dataclass
class TrueBook:
    """The venue's whole book (prices and sizes as text, the way the venue writes them)."""

    bids: dict[int, str] = field(default_factory=dict)  # integer price -> size text
    asks: dict[int, str] = field(default_factory=dict)
    update_id: int = 1000
    snapshots: int = 0

    def top(self, side: str, n: int) -> list[tuple[int, str]]:
        book = self.bids if side == "bids" else self.asks
        prices = sorted(book, reverse=side == "bids")[:n]
        return [(p, book[p]) for p in prices]

    def change(self, side: str, price: int, size: str) -> None:
        book = self.bids if side == "bids" else self.asks
        if float(size) == 0:
            book.pop(price, None)
        else:
            book[price] = size

    def expected(self, resynced: bool) -> dict[str, Any]:
        """What the record of the current state must carry."""
        bids, asks = self.top("bids", DEPTH), self.top("asks", DEPTH)
        return {
            "sequence_id": self.update_id,
            "resynced": resynced,
            "bid_prices": [float(p) for p, _ in bids],
            "bid_sizes": [float(s) for _, s in bids],
            "ask_prices": [float(p) for p, _ in asks],
            "ask_sizes": [float(s) for _, s in asks],
        }


@dataclass(frozen=True)
class Venue:
    spec: ExchangeSpec
    symbol: str
    feed: type[BookFeed]
    # (true book, first id, levels) -> the raw frame of one update
    frame: Callable[[TrueBook, int, dict[str, list[list[str]]]], bytes]
    # (true book, limit) -> the REST answer's body
    snapshot: Callable[[TrueBook, int], dict[str, Any]]
    # USD-M's rule: the first event after a snapshot spans its id (U <= L <= u), so the event at
    # the snapshot's id is applied again and is the first record (spot: it is stale)
    spans: bool = False


def _levels(book: TrueBook, side: str, limit: int) -> list[list[str]]:
    return [[str(p), s] for p, s in book.top(side, limit)]


GATEIO = Venue(
    gateio_spot.EXCHANGE,
    "BTC_USDT",
    MessageBookFeed,
    lambda book, first, lv: orjson.dumps(
        {
            "time": 1,
            "channel": "spot.order_book_update",
            "event": "update",
            "result": {
                "t": 1_700_000_000_000,
                "s": "BTC_USDT",
                "U": first,
                "u": book.update_id,
                "b": lv["bids"],
                "a": lv["asks"],
            },
        }  # fmt: skip
    ),
    lambda book, limit: {
        "id": book.update_id,
        "current": 1,
        "update": 1,
        "bids": _levels(book, "bids", limit),
        "asks": _levels(book, "asks", limit),
    },
)
BINANCE = Venue(
    binance_spot.EXCHANGE,
    "BTCUSDT",
    BookFeed,
    lambda book, first, lv: orjson.dumps(
        {
            "stream": "btcusdt@depth@100ms",
            "data": {
                "e": "depthUpdate",
                "E": 1_700_000_000_000,
                "s": "BTCUSDT",
                "U": first,
                "u": book.update_id,
                "b": lv["bids"],
                "a": lv["asks"],
            },
        }  # fmt: skip
    ),
    lambda book, limit: {
        "lastUpdateId": book.update_id,
        "bids": _levels(book, "bids", limit),
        "asks": _levels(book, "asks", limit),
    },
)
BINANCE_USDM = Venue(
    binance_usdm.EXCHANGE,
    "BTCUSDT",
    BookFeed,
    lambda book, first, lv: orjson.dumps(
        {
            "stream": "btcusdt@depth@100ms",
            "data": {
                "e": "depthUpdate",
                "E": 1_700_000_000_000,
                "T": 1_700_000_000_000,
                "s": "BTCUSDT",
                "U": first,
                "u": book.update_id,
                "pu": first - 1,
                "b": lv["bids"],
                "a": lv["asks"],
            },
        }  # fmt: skip
    ),
    lambda book, limit: {
        "lastUpdateId": book.update_id,
        "E": 1_700_000_000_000,
        "T": 1_700_000_000_000,
        "bids": _levels(book, "bids", limit),
        "asks": _levels(book, "asks", limit),
    },
    spans=True,
)


def true_book(levels: int) -> TrueBook:
    """`levels` per side: bids 10000, 9999, ... and asks 10001, 10002, ... of size 1."""
    return TrueBook(
        bids={10_000 - i: "1" for i in range(levels)}, asks={10_001 + i: "1" for i in range(levels)}
    )


class Harness:
    """A venue's depth endpoint on loopback serving the true book, and the feed under test
    fetching from it through the real SnapshotClient."""

    def __init__(self, venue: Venue, book: TrueBook, engine: str) -> None:
        self.venue, self.book, self.engine = venue, book, engine
        self.publisher = BytesPublisher()

    async def __aenter__(self) -> Harness:
        app = web.Application()
        app.router.add_get(self.venue.spec.depth_path, self._depth)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._session = aiohttp.ClientSession()
        spec = self.venue.spec
        client = SnapshotClient(spec, self._session, f"http://127.0.0.1:{port}", WeightLimiter(10_000), LIMIT)
        self.feed = self.venue.feed(
            spec,
            [self.venue.symbol],
            self.publisher,  # type: ignore[arg-type]
            client.fetch,
            depth=DEPTH,
            engine=self.engine,
        )
        self.state = self.feed.symbols[self.venue.symbol]
        self.state.sync.use_instrument(Instrument(self.venue.symbol, "trading", True, "BTC", "USDT", "spot"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.feed.stop()
        await self._session.close()
        await self._runner.cleanup()

    async def _depth(self, request: web.Request) -> web.Response:
        self.book.snapshots += 1
        body = self.venue.snapshot(self.book, int(request.query["limit"]))
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def update(self, changes: list[tuple[str, int, str]]) -> None:
        """One update of the true book, sent as the venue's frame; then let the feed's snapshot
        task run to its end if the frame asked for one."""
        first = self.book.update_id + 1
        self.book.update_id = first
        levels: dict[str, list[list[str]]] = {"bids": [], "asks": []}
        for side, price, size in changes:
            self.book.change(side, price, size)
            levels[side].append([str(price), size])
        self.feed.on_frame(self.venue.frame(self.book, first, levels), 0)
        task = self.state.snapshot_task
        if task is not None and not task.done():
            await asyncio.wait_for(task, 10)

    def records(self) -> list[dict[str, Any]]:
        keys = ("sequence_id", "resynced", "bid_prices", "bid_sizes", "ask_prices", "ask_sizes")
        out = []
        for _, payload, _ in self.publisher.raw:
            record = orjson.loads(payload)
            out.append({k: record[k] for k in keys})
        return out


def best(book: TrueBook, side: str) -> int:
    return book.top(side, 1)[0][0]


def worse_than(book: TrueBook, side: str, steps: int) -> int:
    """The price `steps` levels worse than the side's best."""
    return best(book, side) - steps if side == "bids" else best(book, side) + steps


async def shallow_scenario(venue: Venue, side: str, engine: str) -> tuple[Harness, list[dict[str, Any]]]:
    """150 true levels per side, a 100-level snapshot; one level past the snapshot's boundary is
    learned from an update; then the best level of `side` is deleted until only 19 levels inside
    the boundary are left. Returns the harness and the records the true book says must be
    published."""
    book = true_book(150)
    expected: list[dict[str, Any]] = []
    async with Harness(venue, book, engine) as h:
        await h.update([("asks", 10_001, "2"), ("bids", 10_000, "2")])  # buffered: asks for the snapshot
        assert h.state.sync.live and book.snapshots == 1
        if venue.spans:
            expected.append(book.expected(resynced=True))
        # the 121st level is past the 100-level snapshot: known from here on, but what lies
        # between the boundary (101st) and it is not
        await h.update([(side, worse_than(book, side, 120), "3")])
        expected.append(book.expected(resynced=not venue.spans))
        for _ in range(LIMIT - DEPTH):  # 80 deletes: 20 levels inside the boundary left
            await h.update([(side, best(book, side), "0")])
            expected.append(book.expected(resynced=False))
        # the 81st delete leaves 19 known: the record would publish the 121st level as the
        # 20th and skip the true 101st..120th. Nothing is published, a new snapshot is fetched.
        await h.update([(side, best(book, side), "0")])
        if venue.spans:  # applied again on the new snapshot: its first record, the true book
            expected.append(book.expected(resynced=True))
        # the new snapshot is the whole remaining side (69 levels): complete again
        for i in range(3):
            await h.update([(side, best(book, side), "0"), (side, worse_than(book, side, 5), "7")])
            expected.append(book.expected(resynced=i == 0 and not venue.spans))
    return h, expected


@pytest.mark.parametrize("side", ["bids", "asks"])
@pytest.mark.parametrize(
    ("venue", "engine"),
    [(GATEIO, "python"), (BINANCE, "python"), (BINANCE_USDM, "python")]
    + ([(BINANCE, "native"), (BINANCE_USDM, "native")] if NATIVE else []),
    ids=lambda v: v.spec.id if isinstance(v, Venue) else v,
)
def test_deletes_inside_a_bounded_snapshot_resync_the_book(venue: Venue, engine: str, side: str) -> None:
    h, expected = asyncio.run(shallow_scenario(venue, side, engine))
    records = h.records()
    assert records == expected
    assert h.book.snapshots == 2 and h.state.sync.live
    # the update that left the book short (id 1083) published nothing; the first record after
    # the new snapshot is flagged resynced (USD-M: 1083 itself, applied again on it)
    ids = [1082, 1083, 1084, 1085, 1086] if venue.spans else [1082, 1084, 1085, 1086]
    assert [r["sequence_id"] for r in records][-len(ids) :] == ids
    sync = h.state.sync
    counters = sync.counters()
    assert (counters.depth_resyncs, counters.resyncs, counters.gaps, counters.syncs) == (1, 1, 0, 2)
    if engine == "native":
        assert h.feed.native and type(sync).__name__ == "NativeBookSync"


@pytest.mark.skipif(not NATIVE, reason="obm_book_native not built (scripts/bootstrap.sh builds it)")
@pytest.mark.parametrize("side", ["bids", "asks"])
@pytest.mark.parametrize("venue", [BINANCE, BINANCE_USDM], ids=lambda v: v.spec.id)
def test_native_and_python_publish_the_same_bytes_around_a_depth_resync(venue: Venue, side: str) -> None:
    """The differential check of the rule: the compiled engine's records (its frame path took
    the live frames) are byte for byte the Python engine's, the short update included."""
    py, _ = asyncio.run(shallow_scenario(venue, side, "python"))
    nat, _ = asyncio.run(shallow_scenario(venue, side, "native"))
    assert [payload for _, payload, _ in nat.publisher.raw] == [payload for _, payload, _ in py.publisher.raw]
    assert nat.state.sync.counters() == py.state.sync.counters()
    assert nat.state.sync.wait_reason == py.state.sync.wait_reason == ""
    assert nat.feed.native_deferred < 10  # the live frames went through the compiled path


@pytest.mark.parametrize(
    ("venue", "engine"),
    [(GATEIO, "python"), (BINANCE, "python"), (BINANCE_USDM, "python")]
    + ([(BINANCE, "native"), (BINANCE_USDM, "native")] if NATIVE else []),
    ids=lambda v: v.spec.id if isinstance(v, Venue) else v,
)
def test_a_whole_book_never_resyncs_however_thin(venue: Venue, engine: str) -> None:
    """60 levels per side against a limit of 100: the snapshot is the whole book, so the book
    stays exact whatever is deleted, down to one level a side (and none)."""

    async def scenario() -> tuple[Harness, list[dict[str, Any]]]:
        book = true_book(60)
        expected = []
        async with Harness(venue, book, engine) as h:
            await h.update([("asks", 10_001, "2")])
            if venue.spans:
                expected.append(book.expected(resynced=True))
            for i in range(59):
                await h.update([("bids", best(book, "bids"), "0"), ("asks", best(book, "asks"), "0")])
                expected.append(book.expected(resynced=i == 0 and not venue.spans))
            await h.update([("bids", best(book, "bids"), "0")])
            expected.append(book.expected(resynced=False))
        return h, expected

    h, expected = asyncio.run(scenario())
    assert h.records() == expected
    assert h.book.snapshots == 1
    assert expected[-1]["bid_prices"] == [] and len(expected[-1]["ask_prices"]) == 1
    assert h.state.sync.counters().depth_resyncs == 0


def test_the_order_book_counts_the_levels_inside_each_boundary() -> None:
    book = OrderBook()
    bids = [(p * SCALE, SCALE) for p in range(100, 90, -1)]  # 10 levels: 100..91
    asks = [(p * SCALE, SCALE) for p in range(101, 106)]  # 5 levels
    book.load(bids, asks, limit=10)
    assert book.bounded and (book.boundary("bids"), book.boundary("asks")) == (91 * SCALE, None)
    assert (book.known_levels("bids"), book.known_levels("asks")) == (10, None)
    # past the boundary: learned, not counted; a level re-set or a delete of an unknown one: no change
    book.apply([(80 * SCALE, SCALE), (100 * SCALE, 2 * SCALE), (85 * SCALE, 0)], [])
    assert book.known_levels("bids") == 10 and book.side_len("bids") == 11
    # inside: a new level counts, a delete uncounts (the boundary level itself included)
    book.apply([(95 * SCALE + 1, SCALE), (91 * SCALE, 0), (100 * SCALE, 0), (99 * SCALE, 0)], [])
    assert book.known_levels("bids") == 8 and book.short_side(8) is None and book.short_side(9) == "bids"
    book.apply([], [(101 * SCALE, 0)] * 3)  # a whole side is never short
    assert book.short_side(8) is None
    book.load(bids, asks)  # no limit: whole
    assert not book.bounded and book.short_side(100) is None
    book.load(bids, asks, limit=5)  # both sides full
    assert (book.boundary("bids"), book.boundary("asks")) == (91 * SCALE, 105 * SCALE)
    book.clear()
    assert not book.bounded and book.known_levels("asks") is None


def test_buffered_events_that_leave_the_book_short_resync_it_with_the_reason() -> None:
    """The replay of the buffer after a snapshot follows the same rule (nothing emitted past it)."""
    from producer.exchanges.spec import BookSnapshot, Continuity, DepthEvent

    sync = BookSync("BTCUSDT", Continuity.FIRST_ID, exchange="binance", market="spot", depth=3)
    levels = [(p * SCALE, SCALE) for p in range(100, 95, -1)]  # 5 bids: 100..96
    for u, price in ((11, 100), (12, 99), (13, 98)):
        sync.on_event(DepthEvent("BTCUSDT", u, u, None, 1, None, [(price * SCALE, 0)], []))
    emitted: list[int] = []
    outcome = sync.on_snapshot(
        BookSnapshot(10, levels, [(101 * SCALE, SCALE)], depth_limit=5), lambda e: emitted.append(e.final_id)
    )
    assert outcome.name == "NEED_SNAPSHOT" and emitted == [11, 12] and not sync.live
    assert (
        sync.wait_reason
        == "2 bids known complete within the snapshot's boundary 96.00000000, fewer than the 3 published"
    )
    assert sync.buffered == 1 and (sync.depth_resyncs, sync.resyncs, sync.syncs) == (1, 1, 1)
