"""OKX golden tests: the producer against the simulator's OKX protocol (subscribe by message,
snapshot then updates with seqId/prevSeqId and a CRC32 checksum, ping/pong, instruments) over a
real WebSocket, into a real broker. The test crafts every change (the simulator's models are
off), so the book at every sequence id is known, and asserts the published records themselves:
a lost update (broken chain) and a wrong checksum each resync that book alone from a new
snapshot with nothing of the bad state published, a reconnect whose snapshot repeats the book
publishes nothing, a malformed push goes to the DLQ with its reason, and swap sizes (contracts
of 0.01 BTC) are published as base units."""

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


def run_golden(kafka_settings, inst: str, exchange_id: str, market: str, size_of, instrument: dict):  # noqa: ANN001, ANN201
    kafka = isolated_kafka(kafka_settings)
    true = TrueBook(seed=5, mid=Decimal("60000.0"), tick=Decimal("0.1"))
    expected: list[dict] = []

    def expect(seq: int, prev: int | None) -> None:
        expected.append(
            {
                "sequence_id": seq,
                "prev_sequence_id": prev,
                "resynced": prev is None,
                **true.expected(DEPTH, size_of),
            }
        )

    async def prepare(sim: Simulator) -> None:
        sim.okx.auto = False
        book = sim.okx.books[inst]
        book.bids, book.asks = dict(true.bids), dict(true.asks)

    async def scenario():
        async with running(kafka, [inst], prepare=prepare, exchange="okx", market=market, depth=DEPTH) as (
            sim,
            svc,
        ):
            okx = sim.okx
            state = svc.feed.symbols[inst]
            published = lambda: state.records  # noqa: E731

            async def settled(what: str) -> None:
                await wait_until(lambda: published() == len(expected) and state.sync.live, 30, what)

            expect(okx.books[inst].seq, None)  # the subscription's snapshot
            await settled("the first snapshot")
            last = expected[-1]["sequence_id"]
            for _ in range(8):
                seq = await okx.push(inst, *true.change())
                expect(seq, last)
                last = seq
            await settled("8 updates")

            # a lost update: the next one does not chain, the book resyncs from a new snapshot
            await okx.push(inst, *true.change(), drop=True)
            seq = await okx.push(inst, *true.change())
            expect(seq, None)
            await settled("the resync after the broken chain")
            last = seq
            for _ in range(3):
                seq = await okx.push(inst, *true.change())
                expect(seq, last)
                last = seq
            await settled("updates after the chain break")

            # a wrong checksum: the update is not published, the book resyncs
            seq = await okx.push(inst, *true.change(), bad_checksum=True)
            expect(seq, None)
            await settled("the resync after the checksum mismatch")
            last = seq

            # a malformed push: DLQ, nothing else changes
            bad = {"arg": {"channel": "books", "instId": inst}, "action": "update", "data": [{"seqId": 1}]}
            await okx.send_raw(inst, orjson.dumps(bad))
            await wait_until(lambda: svc.feed.dlq == 1, 30, "the DLQ record")

            # a reconnect: the new subscription's snapshot is the book we have: nothing published
            stale_before = state.sync.counters().stale_events
            await okx.disconnect()
            await wait_until(
                lambda: state.sync.counters().stale_events > stale_before, 30, "the repeated snapshot"
            )
            for _ in range(3):
                seq = await okx.push(inst, *true.change())
                expect(seq, last)
                last = seq
            await settled("updates after the reconnect")
            return state.sync.counters(), svc.connections[0].reconnects, okx.subscribes

    counters, reconnects, subscribes = asyncio.run(scenario())
    assert (counters.gaps, counters.checksum_mismatches, counters.resyncs) == (1, 1, 2)
    assert counters.syncs == 3  # the first snapshot and the two resyncs; the reconnect's was a repeat
    assert reconnects == 1 and subscribes == 4

    raw_topic, dlq_topic = topic_names(kafka)
    dlq = read_topic(kafka, dlq_topic)
    assert len(dlq) == 1 and "field 'ts'" in dlq[0][1]["reason"], dlq
    records = read_topic(kafka, raw_topic)
    validate = validator_for(Topic.RAW)
    for key, rec in records:
        validate(rec)
        assert key == f"{exchange_id}:{inst}"
        assert (rec["exchange"], rec["market"], rec["symbol"], rec["crossed"]) == (
            exchange_id,
            market,
            inst,
            False,
        )
        assert rec["transaction_time"] is None and rec["event_time"] > 0
        assert {k: rec[k] for k in instrument} == instrument  # the normalized instrument
    got = [{k: rec[k] for k in FIELDS} for _, rec in records]
    assert len(got) == len(expected)
    for i, (rec, want) in enumerate(zip(got, expected, strict=True)):
        assert rec == want, f"record {i}"


def test_okx_swap_golden(kafka_settings) -> None:
    """BTC-USDT-SWAP: linear contracts of 0.01 BTC (the simulator's instruments list ctVal 0.01)."""
    instrument = {"base": "BTC", "quote": "USDT", "kind": "perp", "contract_size": 0.01}
    to_base = lambda price, size: size * Fraction(1, 100)  # noqa: E731
    run_golden(kafka_settings, "BTC-USDT-SWAP", "okx_swap", "swap", to_base, instrument)


def test_okx_spot_golden(kafka_settings) -> None:
    """BTC-USDT: sizes are base units already."""
    instrument = {"base": "BTC", "quote": "USDT", "kind": "spot", "contract_size": None}
    run_golden(kafka_settings, "BTC-USDT", "okx", "spot", None, instrument)
