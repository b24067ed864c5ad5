"""Binance COIN-M golden test: a crafted capture (known books, sizes in contracts of 100 USD)
served by the simulator's replay over a real WebSocket and the COIN-M REST paths, into the
producer and a real broker. Every published record must be the exchange's book at its sequence
id, in base units (contracts * 100 / price), through a chain break (one event missing: that book
resyncs from the next snapshot) and a reconnect whose new connection resends everything (no
record repeated or out of order)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from fractions import Fraction

import orjson
import pytest
from producer_harness import isolated_kafka, read_topic, running, wait_until
from venue_books import TrueBook

from producer.capture import CaptureWriter
from producer.publisher import topic_names
from producer.simulator import ReplayOptions
from schemas import Topic, validator_for

pytestmark = pytest.mark.integration
SYMBOL = "BTCUSD_PERP"
STREAM = "btcusd_perp@depth@100ms"
DEPTH = 20
CONTRACT_USD = 100  # what the simulator's /dapi/v1/exchangeInfo lists for BTC


def base_size(price: Fraction, contracts: Fraction) -> Fraction:
    return contracts * CONTRACT_USD / price


def craft(path) -> list[dict]:  # noqa: ANN001
    """Write the capture; return the records the producer must publish, in order (without
    receive_time_ns). Lines: e1, snapshot A (at e1), e2..e30, [e31 lost], e32, snapshot C (at
    e32), e33..e60."""
    book = TrueBook(seed=3, mid=Decimal("60000.0"), tick=Decimal("0.1"))
    writer = CaptureWriter(path)
    expected: list[dict] = []
    u = 5_000_000
    ns = 1_700_000_000_000_000_000

    def snapshot(at: int) -> None:
        body = {
            "lastUpdateId": at,
            "symbol": SYMBOL,
            "pair": "BTCUSD",
            "E": ns // 10**6,
            "T": ns // 10**6,
            "bids": book.levels("bids"),
            "asks": book.levels("asks"),
        }
        writer.write(ns, orjson.dumps(body))

    prev_published = None
    for i in range(1, 61):
        bids, asks = book.change()
        first, u, prev = u + 1, u + book.rng.randint(1, 5), u
        ns += 10_000_000
        event_ms = ns // 10**6
        if i == 31:
            continue  # lost on the way: the producer sees e32's pu != e30's u
        data = {
            "e": "depthUpdate",
            "E": event_ms,
            "T": event_ms - 1,
            "s": SYMBOL,
            "ps": "BTCUSD",
            "U": first,
            "u": u,
            "pu": prev,
            "b": bids,
            "a": asks,
        }
        writer.write(ns, orjson.dumps({"stream": STREAM, "data": data}))
        resynced = i in (1, 32)
        expected.append(
            {
                "schema_version": 1,
                "exchange": "binance_coinm",
                "market": "coinm",
                "symbol": SYMBOL,
                "event_time": event_ms,
                "transaction_time": event_ms - 1,
                "sequence_id": u,
                "prev_sequence_id": None if resynced else prev_published,
                **book.expected(DEPTH, base_size),
                "resynced": resynced,
                "crossed": False,
                "base": "BTC",
                "quote": "USD",
                "kind": "perp",
                "contract_size": 100.0,
            }
        )
        prev_published = u
        if i in (1, 32):
            snapshot(u)
    writer.close()
    return expected


def test_coinm_books_in_base_units_through_a_chain_break_and_a_reconnect(kafka_settings, tmp_path) -> None:
    kafka = isolated_kafka(kafka_settings)
    capture = tmp_path / "coinm.txt"
    expected = craft(capture)
    replay = ReplayOptions(str(capture), speed=0, snapshots_in_order=True)

    async def scenario():
        async with running(
            kafka, [SYMBOL], replay=replay, exchange="binance", market="coinm", depth=DEPTH
        ) as (sim, svc):
            state = svc.feed.symbols[SYMBOL]
            await wait_until(lambda: state.records >= len(expected), 30, "every record")
            frames = svc.feed.frames_in
            await sim.inject("disconnect")
            # the new connection gets the whole capture again: all of it already in the book
            await wait_until(lambda: svc.feed.frames_in >= 2 * frames, 30, "the resent frames")
            return state.sync.counters(), state.records, svc.connections[0].reconnects, svc.publisher

    counters, records_made, reconnects, publisher = asyncio.run(scenario())
    assert reconnects == 1
    assert records_made == len(expected)
    assert (counters.gaps, counters.resyncs, counters.syncs) == (1, 1, 2)
    assert counters.stale_events >= 59  # the resent frames (and none published)
    assert publisher.delivery_errors == 0 and publisher.invalid_records == 0

    raw_topic, dlq_topic = topic_names(kafka)
    assert read_topic(kafka, dlq_topic) == []
    published = read_topic(kafka, raw_topic)
    validate = validator_for(Topic.RAW)
    got = []
    for key, rec in published:
        validate(rec)
        assert key == f"binance_coinm:{SYMBOL}"
        rec.pop("receive_time_ns")
        got.append(rec)
    assert len(got) == len(expected)
    for i, (rec, want) in enumerate(zip(got, expected, strict=True)):
        assert rec == want, f"record {i} (sequence id {want['sequence_id']})"
