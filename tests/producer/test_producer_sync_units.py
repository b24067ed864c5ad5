"""Binance's local-book procedure, spot (U/u chain) and USD-M futures (pu chain); the states a book
shows (with the reason and since when); the feed's supervision of each book's sync task."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from producer.book import SCALE
from producer.book_states import BookState
from producer.exchanges import BookSnapshot, Continuity, DepthEvent, binance_spot, binance_usdm
from producer.feed import BookFeed
from producer.rest import UnknownSymbol
from producer.simulator.exchange_info import spot_exchange_info, usdm_exchange_info
from producer.simulator.market_model import SymbolModel, depth_update
from producer.sync import BookSync, Outcome
from schemas import Topic, validator_for

pytestmark = pytest.mark.unit


def ev(first: int, final: int, bids=(), asks=(), pu: int | None = None) -> DepthEvent:
    return DepthEvent(
        "ETHUSDT",
        first,
        final,
        pu,
        1,
        None,
        [(p * SCALE, s * SCALE) for p, s in bids],
        [(p * SCALE, s * SCALE) for p, s in asks],
    )


def snap(last: int, bids=((100, 1),), asks=((101, 1),)) -> BookSnapshot:
    return BookSnapshot(
        last, [(p * SCALE, s * SCALE) for p, s in bids], [(p * SCALE, s * SCALE) for p, s in asks]
    )


def test_spot_buffers_then_applies_events_spanning_the_snapshot() -> None:
    sync = BookSync("ETHUSDT", Continuity.FIRST_ID)
    emitted: list[int] = []
    assert sync.on_event(ev(5, 8, bids=[(99, 1)])) is Outcome.BUFFERED
    assert sync.on_event(ev(9, 12, bids=[(99, 2)])) is Outcome.BUFFERED
    assert sync.on_event(ev(13, 15, asks=[(101, 0), (102, 5)])) is Outcome.BUFFERED
    assert sync.on_snapshot(snap(10), lambda e: emitted.append(e.final_id)) is Outcome.APPLIED
    # 5..8 is older than the snapshot and dropped; 9..12 spans 11 = lastUpdateId + 1
    assert emitted == [12, 15]
    assert sync.book.levels("bids") == [(100 * SCALE, SCALE), (99 * SCALE, 2 * SCALE)]
    assert sync.book.levels("asks") == [(102 * SCALE, 5 * SCALE)]
    assert sync.record_prev_id == 12 and sync.record_resynced is False
    assert sync.on_event(ev(16, 16, bids=[(100, 3)])) is Outcome.APPLIED
    assert (sync.record_prev_id, sync.local_id, sync.gaps, sync.resyncs) == (15, 16, 0, 0)


def test_first_record_after_snapshot_is_flagged_resynced_with_no_previous_id() -> None:
    sync = BookSync("ETHUSDT", Continuity.FIRST_ID)
    sync.on_event(ev(9, 12))
    flags = []
    sync.on_snapshot(snap(10), lambda e: flags.append((sync.record_resynced, sync.record_prev_id)))
    assert flags == [(True, None)]


def test_spot_snapshot_older_than_the_stream_is_fetched_again() -> None:
    sync = BookSync("ETHUSDT", Continuity.FIRST_ID)
    sync.on_event(ev(20, 25))
    assert sync.on_snapshot(snap(10), lambda e: None) is Outcome.NEED_SNAPSHOT
    assert not sync.live and sync.stale_snapshots == 1 and sync.gaps == 0 and sync.syncs == 0
    assert sync.on_snapshot(snap(22), lambda e: None) is Outcome.APPLIED
    assert sync.live and sync.local_id == 25 and sync.syncs == 1


def test_spot_gap_resyncs_only_after_a_fresh_snapshot_and_is_counted_once() -> None:
    sync = BookSync("ETHUSDT", Continuity.FIRST_ID)
    sync.on_snapshot(snap(10), lambda e: None)
    assert sync.on_event(ev(11, 12)) is Outcome.APPLIED
    assert sync.on_event(ev(14, 15)) is Outcome.NEED_SNAPSHOT  # 13 is missing
    assert (sync.live, sync.gaps, sync.resyncs, len(sync.book)) == (False, 1, 1, 0)
    assert sync.on_event(ev(16, 18)) is Outcome.BUFFERED
    emitted = []
    assert (
        sync.on_snapshot(snap(15, bids=((90, 1),)), lambda e: emitted.append(e.final_id)) is Outcome.APPLIED
    )
    assert emitted == [18] and sync.gaps == 1 and sync.resyncs == 1
    assert sync.book.levels("bids") == [(90 * SCALE, SCALE)]


def test_spot_duplicate_events_are_ignored() -> None:
    sync = BookSync("ETHUSDT", Continuity.FIRST_ID)
    sync.on_snapshot(snap(10), lambda e: None)
    assert sync.on_event(ev(11, 12)) is Outcome.APPLIED
    assert sync.on_event(ev(11, 12)) is Outcome.STALE
    assert sync.stale_events == 1 and sync.gaps == 0


def test_snapshot_before_any_event_waits_for_the_spanning_event() -> None:
    sync = BookSync("ETHUSDT", Continuity.FIRST_ID)
    assert sync.on_snapshot(snap(10), lambda e: None) is Outcome.BUFFERED
    assert sync.on_event(ev(3, 9)) is Outcome.STALE
    assert sync.on_event(ev(10, 11)) is Outcome.APPLIED and sync.record_resynced


def test_futures_chain_on_previous_final_id() -> None:
    sync = BookSync("BTCUSDT", Continuity.PREV_FINAL_ID)
    sync.on_event(ev(1, 5, pu=0))
    sync.on_event(ev(6, 12, pu=5, bids=[(99, 1)]))
    sync.on_event(ev(13, 20, pu=12, bids=[(98, 1)]))
    emitted = []
    # first applied must have U <= lastUpdateId <= u
    assert sync.on_snapshot(snap(10), lambda e: emitted.append(e.final_id)) is Outcome.APPLIED
    assert emitted == [12, 20]
    # futures ids are not contiguous: only pu matters
    assert sync.on_event(ev(25, 30, pu=20)) is Outcome.APPLIED
    assert sync.on_event(ev(35, 40, pu=31)) is Outcome.NEED_SNAPSHOT
    assert sync.gaps == 1


def test_futures_first_event_must_span_the_snapshot() -> None:
    sync = BookSync("BTCUSDT", Continuity.PREV_FINAL_ID)
    sync.on_event(ev(15, 20, pu=14))
    assert sync.on_snapshot(snap(10), lambda e: None) is Outcome.NEED_SNAPSHOT
    assert sync.stale_snapshots == 1


def test_buffer_is_bounded() -> None:
    sync = BookSync("ETHUSDT", Continuity.FIRST_ID, max_buffer=3)
    for i in range(3):
        assert sync.on_event(ev(i * 2 + 1, i * 2 + 2)) is Outcome.BUFFERED
    assert sync.on_event(ev(7, 8)) is Outcome.NEED_SNAPSHOT
    assert sync.buffer_overflows == 1


def test_partial_depth_keeps_order_and_flags_first() -> None:
    sync = BookSync("ETHUSDT", Continuity.FIRST_ID)
    assert (
        sync.on_partial(snap(10)) is Outcome.APPLIED and sync.record_resynced and sync.record_prev_id is None
    )
    assert sync.on_partial(snap(9)) is Outcome.STALE
    assert sync.on_partial(snap(12, bids=((99, 1),))) is Outcome.APPLIED
    assert sync.record_prev_id == 10 and not sync.record_resynced
    assert sync.book.levels("bids") == [(99 * SCALE, SCALE)]


def test_state_and_reason_follow_the_procedure() -> None:
    sync = BookSync("ETHUSDT", Continuity.FIRST_ID)
    assert sync.state is BookState.SYNCING and sync.wait_reason == ""
    sync.on_event(ev(9, 12))
    assert sync.state is BookState.SYNCING and sync.buffered == 1
    before = sync.state_since
    sync.on_snapshot(snap(10), lambda e: None)
    assert sync.state is BookState.LIVE and sync.state_since >= before and sync.buffered == 0
    assert sync.on_event(ev(14, 15)) is Outcome.NEED_SNAPSHOT
    assert sync.state is BookState.RESYNCING and sync.wait_reason == "sequence gap at U=14 after 12"
    sync.on_event(ev(16, 20))
    assert sync.on_snapshot(snap(8), lambda e: None) is Outcome.NEED_SNAPSHOT
    assert sync.state is BookState.RESYNCING and sync.wait_reason == "snapshot 8 older than the stream"
    counters = sync.counters()
    assert (counters.gaps, counters.resyncs, counters.syncs, counters.stale_snapshots) == (1, 1, 1, 1)


class RecordingPublisher:
    """Stands in for Kafka: keeps the records the feed publishes."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.dlq: list[dict[str, Any]] = []

    def publish_book(self, key: bytes, record: dict[str, Any], force_check: bool = False) -> bool:
        self.records.append(record)
        return True

    def publish_book_json(self, key: bytes, payload: bytes, force_check: bool = False) -> bool:
        self.records.append(orjson.loads(payload))
        return True

    def publish_dlq(self, record: dict[str, Any]) -> None:
        self.dlq.append(record)

    def poll(self, timeout: float = 0.0) -> int:
        return 0


def test_feed_asks_for_the_first_snapshot_only_once_the_stream_has_delivered_an_event() -> None:
    """The start-up race behind the extra ETHUSDT gaps under load: a snapshot taken before the
    subscription reaches the exchange misses the changes made between it and the stream's first
    event. Here the market changes three times before the stream is open; the feed must not have
    asked for a snapshot by then, and the one it asks for after the first event chains on."""
    model = SymbolModel("ETHUSDT", seed=3)
    stream = binance_spot.EXCHANGE.diff_channel("ETHUSDT")
    publisher = RecordingPublisher()
    asked_at: list[int] = []  # the model's update id when each snapshot was asked for
    delivered: list[int] = []  # u of each event the stream carried

    async def fetch(symbol: str) -> BookSnapshot:
        asked_at.append(model.update_id)
        await asyncio.sleep(0)
        return binance_spot.parse_snapshot(orjson.loads(orjson.dumps(model.snapshot(1000))))

    def step_and_frame() -> bytes:
        first, final, bids, asks = model.step()
        return orjson.dumps({"stream": stream, "data": depth_update("ETHUSDT", 1, first, final, bids, asks)})

    async def scenario() -> BookFeed:
        feed = BookFeed(binance_spot.EXCHANGE, ["ETHUSDT"], publisher, fetch)  # type: ignore[arg-type]
        for _ in range(3):
            step_and_frame()  # changes the stream does not carry yet
            await asyncio.sleep(0)
        assert asked_at == []
        for _ in range(20):
            feed.on_frame(step_and_frame(), 0)
            delivered.append(model.update_id)
            for _ in range(3):
                await asyncio.sleep(0)
        return feed

    feed = asyncio.run(scenario())
    sync = feed.symbols["ETHUSDT"].sync
    assert len(asked_at) == 1 and asked_at[0] >= delivered[0]
    assert (sync.gaps, sync.resyncs, sync.syncs, sync.stale_snapshots, sync.live) == (0, 0, 1, 0, True)
    records = publisher.records
    assert records and records[-1]["sequence_id"] == model.update_id
    assert records[0]["resynced"] and records[0]["prev_sequence_id"] is None
    for prev, rec in zip(records, records[1:], strict=False):
        assert rec["prev_sequence_id"] == prev["sequence_id"] and not rec["resynced"]
    best_bid, best_ask = model.book.best_bid(), model.book.best_ask()
    assert (
        records[-1]["bid_prices"][0] == best_bid[0] / SCALE
        and records[-1]["ask_prices"][0] == best_ask[0] / SCALE
    )


def _feed_with_fetch(fetch, on_fatal=None) -> BookFeed:  # noqa: ANN001
    return BookFeed(
        binance_spot.EXCHANGE,
        ["ETHUSDT"],
        RecordingPublisher(),  # type: ignore[arg-type]
        fetch,
        engine="python",
        on_fatal=on_fatal,
        restart_backoff_s=(0.01, 0.02),
    )


def _frame(first: int, final: int) -> bytes:
    data = depth_update("ETHUSDT", 1, first, final, {100 * SCALE: SCALE}, {101 * SCALE: SCALE})
    return orjson.dumps({"stream": "ethusdt@depth@100ms", "data": data})


def test_a_book_task_that_dies_is_shown_failed_and_restarted_until_live() -> None:
    """Pure supervision logic (the real simulator's REST errors: test_producer_faults.py)."""
    calls: list[str] = []
    seen: list[tuple[BookState, str | None, int]] = []

    async def scenario() -> BookFeed:
        async def fetch(symbol: str) -> BookSnapshot:
            calls.append(symbol)
            if len(calls) <= 3:
                status = feed.book_reports()[0].status
                seen.append((status.state, status.reason, status.restarts))
                raise RuntimeError(f"boom {len(calls)}")
            return snap(10)

        feed = _feed_with_fetch(fetch)
        feed.on_frame(_frame(9, 12), 0)
        for _ in range(200):
            await asyncio.sleep(0.01)
            if feed.is_live():
                break
        return feed

    feed = asyncio.run(scenario())
    state = feed.symbols["ETHUSDT"]
    assert feed.is_live() and len(calls) == 4 and state.restarts == 3 and state.failure is None
    # before each restart the book shows the previous death; the first fetch saw a book syncing
    assert seen[0][:1] == (BookState.SYNCING,)
    assert seen[1:] == [
        (BookState.FAILED, "RuntimeError: boom 1", 1),
        (BookState.FAILED, "RuntimeError: boom 2", 2),
    ]
    report = feed.book_reports()[0]
    assert (
        report.status.state is BookState.LIVE and report.status.reason is None and report.counters.syncs == 1
    )


def test_a_permanent_error_stops_with_the_reason_and_is_not_retried() -> None:
    fatal: list[str] = []
    calls: list[str] = []

    async def scenario() -> BookFeed:
        async def fetch(symbol: str) -> BookSnapshot:
            calls.append(symbol)
            raise UnknownSymbol(f"binance (spot) does not know symbol {symbol}")

        feed = _feed_with_fetch(fetch, fatal.append)
        feed.on_frame(_frame(9, 12), 0)
        for _ in range(20):
            await asyncio.sleep(0.01)
        return feed

    feed = asyncio.run(scenario())
    assert fatal == ["ETHUSDT: binance (spot) does not know symbol ETHUSDT"] and calls == ["ETHUSDT"]
    status = feed.book_reports()[0].status
    assert status.state is BookState.FAILED and status.reason == "binance (spot) does not know symbol ETHUSDT"


@pytest.mark.parametrize(
    ("spec", "listing", "kind"),
    [
        (binance_spot.EXCHANGE, spot_exchange_info(["ETHUSDT"]), "spot"),
        (binance_usdm.EXCHANGE, usdm_exchange_info(["ETHUSDT"]), "perp"),
    ],
)
def test_python_engine_records_carry_the_binance_listings_instrument(spec, listing, kind) -> None:  # noqa: ANN001
    """Binance spot and USD-M on the Python engine (what runs without cargo): the listing read at
    start ends every record with the normalized instrument, as orderbook.raw's schema has it."""
    sync = BookSync.create(spec, "ETHUSDT", depth=5)
    sync.use_instrument(spec.parse_instruments(orjson.loads(orjson.dumps(listing)))["ETHUSDT"])
    sync.on_event(ev(9, 12, bids=[(100, 2)], pu=8))
    sync.on_snapshot(snap(10), lambda e: None)
    publisher = RecordingPublisher()
    sync.publish(publisher, b"binance:ETHUSDT", 1, None, 2, 12)  # type: ignore[arg-type]
    (record,) = publisher.records
    validator_for(Topic.RAW)(record)
    assert list(record)[-5:] == ["crossed", "base", "quote", "kind", "contract_size"]
    assert (record["base"], record["quote"], record["kind"], record["contract_size"]) == (
        "ETH",
        "USDT",
        kind,
        None,
    )
