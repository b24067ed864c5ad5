"""Gate.io golden tests, spot and USDT futures: the producer against the simulator's Gate.io
protocol (subscribe by message with the send time, order_book_update notifications with U/u, the
REST snapshot with `id`, JSON pings) over a real WebSocket, into a real broker. The test crafts
every change of two books (the simulator's models are off), so the book at every update id is
known, and asserts the published records themselves:

- start: the snapshot is read after the first update and answered after two more, so the first
  update is stale against it and dropped, and the next one is the first record (`resynced`);
- a lost notification: that book alone resyncs from a new snapshot (the other one carries on,
  its chain intact), and nothing of the broken state is published;
- a notification whose range overlaps the book (the venue's merged resend) applies once;
- malformed frames and a venue error go to the DLQ with their reasons, nothing else changes;
- a reconnect whose new subscription first gets the last notifications again publishes no
  repeated or out-of-order record: the chain goes on from the last record.

Futures sizes (contracts of quanto_multiplier: 0.0001 BTC, 0.01 ETH) are published as base units.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from fractions import Fraction

import orjson
import pytest
from producer_harness import isolated_kafka, read_topic, running, wait_until
from venue_books import TrueBook

from producer.publisher import topic_names
from producer.simulator import Simulator
from schemas import Topic, validator_for

pytestmark = pytest.mark.integration
DEPTH = 10
FIELDS = ("sequence_id", "prev_sequence_id", "resynced", "bid_prices", "bid_sizes", "ask_prices", "ask_sizes")
A, B = "BTC_USDT", "ETH_USDT"


def run_golden(
    kafka_settings, market: str, exchange_id: str, multipliers: dict[str, Fraction] | None
) -> None:  # noqa: ANN001
    kafka = isolated_kafka(kafka_settings)
    true = {
        A: TrueBook(seed=3, mid=Decimal("60000.0"), tick=Decimal("0.1")),
        B: TrueBook(seed=4, mid=Decimal("2600.00"), tick=Decimal("0.01")),
    }
    size_of = (
        {s: (lambda p, q, m=m: q * m) for s, m in multipliers.items()} if multipliers else {A: None, B: None}
    )
    expected: dict[str, list[dict]] = {A: [], B: []}

    def expect(symbol: str, seq: int, prev: int | None) -> None:
        book = true[symbol].expected(DEPTH, size_of[symbol])
        expected[symbol].append(
            {"sequence_id": seq, "prev_sequence_id": prev, "resynced": prev is None, **book}
        )

    async def prepare(sim: Simulator) -> None:
        sim.gateio.auto = False
        sim.gateio.hold = asyncio.Event()  # the first snapshots are answered when the test says
        for symbol, book in true.items():
            sim.gateio.books[(market, symbol)].bids = dict(book.bids)
            sim.gateio.books[(market, symbol)].asks = dict(book.asks)

    async def scenario():  # noqa: ANN202
        async with running(kafka, [A, B], prepare=prepare, exchange="gateio", market=market, depth=DEPTH) as (
            sim,
            svc,
        ):
            venue = sim.gateio
            states = {s: svc.feed.symbols[s] for s in (A, B)}
            last: dict[str, int | None] = {A: None, B: None}

            async def push(symbol: str, publish: bool = True, **how: object) -> int:
                u = await venue.push(market, symbol, *true[symbol].change(), **how)  # type: ignore[arg-type]
                if publish:
                    expect(symbol, u, last[symbol])
                    last[symbol] = u
                return u

            async def settled(what: str) -> None:
                await wait_until(
                    lambda: all(
                        states[s].records == len(expected[s]) and states[s].sync.live for s in (A, B)
                    ),
                    30,
                    what,
                )

            await wait_until(lambda: venue.subscribes == 2, 30, "both subscriptions")
            # start: the snapshots are read after one update each, answered after two more
            for symbol in (A, B):
                await push(symbol, publish=False)
            await wait_until(lambda: venue.snapshot_requests == 2, 30, "both snapshot requests")
            for symbol in (A, B, A, B):
                await push(symbol)
            hold, venue.hold = venue.hold, None
            assert hold is not None
            hold.set()
            await settled("the first records")
            for symbol in (A, B, A, A, B, A):
                await push(symbol)
            await settled("the normal flow")

            # a lost notification of A: A alone resyncs, B carries on meanwhile
            await push(A, publish=False, drop=True)
            await push(A, publish=False)  # the gap; stale against the new snapshot
            for _ in range(2):
                await push(B)
            await wait_until(
                lambda: states[A].sync.counters().syncs == 2 and states[A].sync.live, 30, "A's resync"
            )
            last[A] = None
            for symbol in (A, B, A):
                await push(symbol)
            await settled("after the gap")

            # the venue's merged resend: a range overlapping the book applies once
            await push(A, overlap=2)
            await settled("the overlap")

            # bad frames: DLQ, nothing else changes
            bad = {"channel": f"{market}.order_book_update", "event": "update", "error": None}
            nan = [["1", "NaN"]] if market == "spot" else [{"p": "1", "s": "NaN"}]
            await venue.send_raw(
                market,
                A,
                orjson.dumps({**bad, "result": {"t": 1, "s": A, "U": 1, "u": 2, "b": nan, "a": []}}),
            )
            await venue.send_raw(
                market, A, orjson.dumps({**bad, "result": {"t": 1, "s": A, "U": 1, "b": [], "a": []}})
            )
            await venue.send_raw(market, A, b'{"channel": "spot.order_book_update", "event": "upd')
            await venue.send_raw(
                market,
                A,
                orjson.dumps(
                    {**bad, "event": "subscribe", "error": {"code": 2, "message": "invalid argument"}}
                ),
            )
            await wait_until(lambda: svc.feed.dlq == 4, 30, "the DLQ records")
            for symbol in (A, B):
                await push(symbol)
            await settled("after the bad frames")

            # a reconnect: the new subscriptions first get the last three notifications again
            venue.resend_on_subscribe = 3
            stale = {s: states[s].sync.counters().stale_events for s in (A, B)}
            await venue.disconnect()
            await wait_until(
                lambda: all(states[s].sync.counters().stale_events == stale[s] + 3 for s in (A, B)),
                30,
                "the resent notifications",
            )
            for symbol in (A, B, A):
                await push(symbol)
            await settled("after the reconnect")
            return (
                {s: states[s].sync.counters() for s in (A, B)},
                svc.connections[0].reconnects,
                venue.subscribes,
                states[A].dlq,
            )

    counters, reconnects, subscribes, dlq_of_a = asyncio.run(scenario())
    assert (counters[A].gaps, counters[A].resyncs, counters[A].syncs) == (1, 1, 2)
    assert (counters[B].gaps, counters[B].resyncs, counters[B].syncs) == (0, 0, 1)
    assert counters[A].stale_snapshots == counters[B].stale_snapshots == 0
    assert reconnects == 1 and subscribes == 4
    assert dlq_of_a == 2  # the book's own DLQ counter (/metrics symbol_dlq_total)

    raw_topic, dlq_topic = topic_names(kafka)
    dlq = [rec for _, rec in read_topic(kafka, dlq_topic)]
    reasons = [rec["reason"] for rec in dlq]
    assert len(reasons) == 4, reasons
    # the refused updates of A carry A's key and stream; the others name no book
    assert [rec["key"] for rec in dlq] == [f"{exchange_id}:{A}"] * 2 + [None, None]
    assert [rec["origin"] for rec in dlq] == [f"{market}.order_book_update:{A}"] * 2 + [None, None]
    assert "not a decimal number" in reasons[0]
    assert "missing field 'u'" in reasons[1]
    assert reasons[2].startswith("malformed JSON")
    assert "venue error" in reasons[3] and "invalid argument" in reasons[3]
    validate = validator_for(Topic.RAW)
    got: dict[str, list[dict]] = {A: [], B: []}
    for key, rec in read_topic(kafka, raw_topic):
        validate(rec)
        symbol = rec["symbol"]
        assert key == f"{exchange_id}:{symbol}"
        assert (rec["exchange"], rec["market"], rec["crossed"]) == (exchange_id, market, False)
        assert rec["transaction_time"] is None and rec["event_time"] > 0
        base, quote = symbol.split("_")
        size = float(multipliers[symbol]) if multipliers else None
        kind = "spot" if market == "spot" else "perp"
        assert (rec["base"], rec["quote"], rec["kind"], rec["contract_size"]) == (base, quote, kind, size)
        got[symbol].append({k: rec[k] for k in FIELDS})
    for symbol in (A, B):
        assert len(got[symbol]) == len(expected[symbol]), symbol
        for i, (rec, want) in enumerate(zip(got[symbol], expected[symbol], strict=True)):
            assert rec == want, f"{symbol} record {i}"


def test_gateio_spot_golden(kafka_settings) -> None:  # noqa: ANN001
    """BTC_USDT and ETH_USDT spot: sizes are base units already."""
    run_golden(kafka_settings, "spot", "gateio", None)


def test_gateio_futures_golden(kafka_settings) -> None:  # noqa: ANN001
    """BTC_USDT and ETH_USDT USDT futures: contracts of 0.0001 BTC and 0.01 ETH."""
    run_golden(kafka_settings, "futures", "gateio_futures", {A: Fraction(1, 10_000), B: Fraction(1, 100)})
