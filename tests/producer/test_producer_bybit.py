"""Bybit v5 golden tests: the producer against the simulator's Bybit protocol (subscribe by
message, snapshot then deltas with a continuous u, JSON ping) over a real WebSocket, into a real
broker. The test crafts every change (the simulator's models are off), so the book at every
update id is known, and asserts the published records themselves: a repeated snapshot and a
reconnect's snapshot of the same book publish nothing, a lost delta resyncs that book from a new
snapshot, a `u == 1` snapshot (Bybit's service restarted) replaces the book and the chain goes on
from it, a malformed push goes to the DLQ with its reason; inverse sizes (contracts of 1 USD) are
published as base units."""

from __future__ import annotations

import asyncio
from decimal import Decimal

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


def run_golden(
    kafka_settings, symbol: str, category: str, exchange_id: str, size_of, instrument: dict
) -> None:  # noqa: ANN001
    kafka = isolated_kafka(kafka_settings)
    true = TrueBook(seed=9, mid=Decimal("60000.0"), tick=Decimal("0.5"))
    expected: list[dict] = []

    def expect(seq: int, prev: int | None) -> None:
        book = true.expected(DEPTH, size_of)
        expected.append({"sequence_id": seq, "prev_sequence_id": prev, "resynced": prev is None, **book})

    async def prepare(sim: Simulator) -> None:
        sim.bybit.auto = False
        book = sim.bybit.books[(category, symbol)]
        book.bids, book.asks = dict(true.bids), dict(true.asks)

    async def scenario():
        async with running(
            kafka, [symbol], prepare=prepare, exchange="bybit", market=category, depth=DEPTH
        ) as (sim, svc):
            venue = sim.bybit
            state = svc.feed.symbols[symbol]

            async def settled(what: str) -> None:
                await wait_until(lambda: state.records == len(expected) and state.sync.live, 30, what)

            async def deltas(n: int, last: int) -> int:
                for _ in range(n):
                    u = await venue.push(category, symbol, *true.change())
                    expect(u, last)
                    last = u
                await settled(f"{n} deltas")
                return last

            expect(venue.books[(category, symbol)].u, None)  # the subscription's snapshot
            await settled("the first snapshot")
            last = await deltas(6, expected[-1]["sequence_id"])

            # the same snapshot again: nothing to publish
            stale = state.sync.counters().stale_events
            await venue.resend_snapshot(category, symbol)
            await wait_until(lambda: state.sync.counters().stale_events > stale, 30, "the repeated snapshot")

            # a lost delta: the next one does not follow, the book resyncs from a new snapshot
            await venue.push(category, symbol, *true.change(), drop=True)
            await venue.push(category, symbol, *true.change())
            expect(venue.books[(category, symbol)].u, None)
            await settled("the resync after the lost delta")
            last = await deltas(3, expected[-1]["sequence_id"])

            # Bybit's service restarts: a u == 1 snapshot replaces the book, deltas follow from it
            expect(await venue.restart(category, symbol), None)
            await settled("the u == 1 snapshot")
            last = await deltas(2, 1)

            # a malformed push: DLQ, nothing else changes
            bad = {"topic": f"orderbook.50.{symbol}", "type": "delta", "ts": 1, "data": {"s": symbol, "u": 9}}
            bad["data"].update(b=[["1", "NaN"]], a=[])
            await venue.send_raw(category, symbol, orjson.dumps(bad))
            await wait_until(lambda: svc.feed.dlq == 1, 30, "the DLQ record")

            # a reconnect: the new subscription's snapshot is the book we have: nothing published
            stale = state.sync.counters().stale_events
            await venue.disconnect()
            await wait_until(
                lambda: state.sync.counters().stale_events > stale, 30, "the reconnect's snapshot"
            )
            await deltas(2, last)
            return state.sync.counters(), svc.connections[0].reconnects, venue.subscribes

    counters, reconnects, subscribes = asyncio.run(scenario())
    assert (counters.gaps, counters.resyncs, counters.syncs, counters.checksum_mismatches) == (1, 1, 3, 0)
    assert reconnects == 1 and subscribes == 3

    raw_topic, dlq_topic = topic_names(kafka)
    dlq = read_topic(kafka, dlq_topic)
    assert len(dlq) == 1 and "not a decimal number" in dlq[0][1]["reason"], dlq
    records = read_topic(kafka, raw_topic)
    validate = validator_for(Topic.RAW)
    for key, rec in records:
        validate(rec)
        assert key == f"{exchange_id}:{symbol}"
        assert (rec["exchange"], rec["market"], rec["symbol"], rec["crossed"]) == (
            exchange_id,
            category,
            symbol,
            False,
        )
        assert rec["transaction_time"] == rec["event_time"] - 1  # cts, the matching engine's time
        assert {k: rec[k] for k in instrument} == instrument  # the normalized instrument
    got = [{k: rec[k] for k in FIELDS} for _, rec in records]
    assert len(got) == len(expected)
    for i, (rec, want) in enumerate(zip(got, expected, strict=True)):
        assert rec == want, f"record {i}"


def test_bybit_linear_golden(kafka_settings) -> None:
    """BTCUSDT linear: quantities in BTC, published as they are."""
    instrument = {"base": "BTC", "quote": "USDT", "kind": "perp", "contract_size": None}
    run_golden(kafka_settings, "BTCUSDT", "linear", "bybit_linear", None, instrument)


def test_bybit_inverse_golden(kafka_settings) -> None:
    """BTCUSD inverse: contracts of 1 USD, published as contracts / price BTC."""
    instrument = {"base": "BTC", "quote": "USD", "kind": "perp", "contract_size": 1.0}
    run_golden(
        kafka_settings, "BTCUSD", "inverse", "bybit_inverse", lambda price, size: size / price, instrument
    )
