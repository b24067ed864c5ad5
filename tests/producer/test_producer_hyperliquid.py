"""Hyperliquid golden tests: the producer against the simulator's Hyperliquid protocol (l2Book
subscribed by message, whole books only, ordered by `time`, JSON ping) over a real WebSocket, into
a real broker. The test crafts every change (the simulator's models are off), so the book at every
time is known, and asserts the published records themselves: a repeated snapshot, an older one
sent again (out of order), another book at the same time and a reconnect's first book publish
nothing; every bad frame goes to the DLQ with its reason; spot pairs go through spotMeta's `@index`
coin and are published under `BASE-QUOTE`. Then the model-driven books end to end, each record
against the simulator's own message at that time."""

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


def _book(coin: str, time_ms: int, bids: list, asks: list) -> dict:
    return {"channel": "l2Book", "data": {"coin": coin, "time": time_ms, "levels": [bids, asks]}}


def _levels(pairs: list[list[str]]) -> list[dict]:
    return [{"px": p, "sz": s, "n": 1} for p, s in pairs]


def run_golden(
    kafka_settings, symbol: str, market: str, exchange_id: str, coin: str, instrument: dict
) -> None:  # noqa: ANN001
    kafka = isolated_kafka(kafka_settings)
    true = TrueBook(seed=5, mid=Decimal("60000.0"), tick=Decimal("0.5"))
    expected: list[dict] = []

    def expect(seq: int) -> None:
        prev = expected[-1]["sequence_id"] if expected else None
        book = true.expected(DEPTH)
        expected.append({"sequence_id": seq, "prev_sequence_id": prev, "resynced": prev is None, **book})

    async def prepare(sim: Simulator) -> None:
        venue = sim.hyperliquid
        venue.auto = False
        book = venue.books[venue.coin_of[symbol]]
        book.bids, book.asks = dict(true.bids), dict(true.asks)

    async def scenario():
        async with running(
            kafka, [symbol], prepare=prepare, exchange="hyperliquid", market=market, depth=DEPTH
        ) as (sim, svc):
            venue = sim.hyperliquid
            book = venue.books[coin]
            state = svc.feed.symbols[symbol]

            async def settled(what: str) -> None:
                await wait_until(lambda: state.records == len(expected) and state.sync.live, 30, what)

            async def stale_after(what: str, send) -> None:  # noqa: ANN001
                before = state.sync.counters().stale_events
                await send()
                await wait_until(lambda: state.sync.counters().stale_events == before + 1, 30, what)

            async def changes(n: int) -> None:
                for _ in range(n):
                    expect(await venue.push(symbol, *true.change()))
                await settled(f"{n} books")

            await wait_until(lambda: book.sent, 30, "the subscription's book")
            expect(book.time)  # the subscription's book
            await settled("the first book")
            await changes(5)

            # the venue repeats its last book, sends an older one, or another book at the same time
            await stale_after("the repeated book", lambda: venue.resend(symbol))
            await stale_after("an older book", lambda: venue.replay_old(symbol, 2))
            same_time = _book(coin, book.time, _levels([["1", "1"]]), _levels([["2", "1"]]))
            await stale_after(
                "a book at the same time", lambda: venue.send_raw(symbol, orjson.dumps(same_time))
            )

            # bad frames: DLQ with the reason, nothing else changes
            t = book.time + 1_000
            bad = [
                b'{"channel":"l2Book","data":{',
                orjson.dumps(_book(coin, t, _levels([["60000", "NaN"]]), _levels([["60001", "1"]]))),
                orjson.dumps({"channel": "l2Book", "data": {"coin": coin, "levels": [[], []]}}),
                orjson.dumps(_book(coin, t, _levels([["59999", "1"], ["60000", "1"]]), [])),
                orjson.dumps(_book(coin, t, [{"px": "60000"}], [])),
                orjson.dumps(_book("NOSUCHCOIN", t, [], [])),
                orjson.dumps({"channel": "error", "data": "Invalid subscription"}),
            ]
            for payload in bad:
                await venue.send_raw(symbol, payload)
            await wait_until(lambda: svc.feed.dlq == len(bad), 30, "the DLQ records")
            await changes(2)

            # a reconnect: the new subscription's book is the one we have: nothing published
            await stale_after("the reconnect's book", venue.disconnect)
            await changes(2)
            return state.sync.counters(), svc.connections[0].reconnects, venue.subscribes

    counters, reconnects, subscribes = asyncio.run(scenario())
    assert (counters.gaps, counters.resyncs, counters.syncs, counters.stale_events) == (0, 0, 1, 4)
    assert reconnects == 1 and subscribes == 2

    raw_topic, dlq_topic = topic_names(kafka)
    reasons = [rec["reason"] for _, rec in read_topic(kafka, dlq_topic)]
    wanted = [
        "malformed JSON",
        "bids: not a decimal number: 'NaN'",
        "field 'time' is not a non-negative integer: None",
        "bids: levels not strictly descending",
        "bids: a level is not {px, sz, n}",
        "unknown stream 'NOSUCHCOIN'",
        "venue error: 'Invalid subscription'",
    ]
    assert len(reasons) == len(wanted), reasons
    for reason, want in zip(reasons, wanted, strict=True):
        assert want in reason, (reason, want)
    records = read_topic(kafka, raw_topic)
    validate = validator_for(Topic.RAW)
    for key, rec in records:
        validate(rec)
        assert key == f"{exchange_id}:{symbol}"
        assert (rec["exchange"], rec["market"], rec["symbol"], rec["crossed"]) == (
            exchange_id,
            market,
            symbol,
            False,
        )
        assert rec["event_time"] == rec["sequence_id"] and rec["transaction_time"] is None
        assert {k: rec[k] for k in instrument} == instrument  # the normalized instrument
    got = [{k: rec[k] for k in FIELDS} for _, rec in records]
    assert len(got) == len(expected)
    for i, (rec, want) in enumerate(zip(got, expected, strict=True)):
        assert rec == want, f"record {i}"
    times = [rec["sequence_id"] for rec in got]
    assert times == sorted(set(times))  # no repeated and no out-of-order record


def test_hyperliquid_perp_golden(kafka_settings) -> None:
    """BTC perp: sizes in BTC as sent, quoted in USDC."""
    instrument = {"base": "BTC", "quote": "USDC", "kind": "perp", "contract_size": None}
    run_golden(kafka_settings, "BTC", "perp", "hyperliquid", "BTC", instrument)


def test_hyperliquid_spot_golden(kafka_settings) -> None:
    """HYPE/USDC spot: streamed as `@1` (spotMeta's index), published as HYPE-USDC."""
    instrument = {"base": "HYPE", "quote": "USDC", "kind": "spot", "contract_size": None}
    run_golden(kafka_settings, "HYPE-USDC", "spot", "hyperliquid_spot", "@1", instrument)


def test_hyperliquid_model_books_end_to_end(kafka_settings) -> None:
    """The market model moving a perp and a spot pair, each kept by its own producer into one
    topic: every record equals the book the simulator sent at that time (read from its own
    messages, not through the producer's code), chained by time with no repeat."""
    kafka = isolated_kafka(kafka_settings)
    symbols = {"ETH": "hyperliquid", "HYPE-USDC": "hyperliquid_spot"}

    async def scenario(symbol: str, market: str) -> dict[int, dict]:
        async with running(kafka, [symbol], rate=50, exchange="hyperliquid", market=market, depth=DEPTH) as (
            sim,
            svc,
        ):
            state = svc.feed.symbols[symbol]
            await wait_until(lambda: state.records >= 40, 60, f"{symbol} records")
        book = sim.hyperliquid.books[sim.hyperliquid.coin_of[symbol]]
        sent = {}
        for payload in book.sent:
            data = orjson.loads(payload)["data"]
            sides = {}
            for bids_or_asks, levels in zip(("bid", "ask"), data["levels"], strict=True):
                top = levels[:DEPTH]
                sides[f"{bids_or_asks}_prices"] = [float(Decimal(level["px"])) for level in top]
                sides[f"{bids_or_asks}_sizes"] = [float(Decimal(level["sz"])) for level in top]
            sent[data["time"]] = sides
        return sent

    sent = {symbol: asyncio.run(scenario(symbol, "spot" if "-" in symbol else "perp")) for symbol in symbols}
    records = read_topic(kafka, topic_names(kafka)[0])
    for symbol, exchange_id in symbols.items():
        chain = [rec for _, rec in records if rec["symbol"] == symbol]
        assert len(chain) >= 40 and all(rec["exchange"] == exchange_id for rec in chain)
        for prev, rec in zip(chain, chain[1:], strict=False):
            assert rec["sequence_id"] > prev["sequence_id"] and rec["prev_sequence_id"] == prev["sequence_id"]
        for rec in chain:
            book = sent[symbol][rec["sequence_id"]]
            assert {k: rec[k] for k in book} == book, f"{symbol} at {rec['sequence_id']}"
