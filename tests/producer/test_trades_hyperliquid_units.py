"""Hyperliquid trades without a network: the documented `trades` message (a list, side B/A as the
taker's, `tid` the id) parsed exactly; the coin the venue streams (`kPEPE`, spot `@107`) renames
the trade stream once listed and the record keeps the symbol; trade streams are subscribed with
type `trades`; bad messages refused with the reason; the simulator's messages parse back to the
fills."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import orjson
import pytest
from test_trades_units import RecordingPublisher

from producer.exchanges.hyperliquid_perp import subscribe
from producer.exchanges.spec import BadFrame, Instrument
from producer.simulator.hyperliquid import HyperliquidVenue
from producer.trade_records import trade_record
from producer.trades import TRADE_STREAMS, TradeFeed
from producer.trades_hyperliquid import parse_trades
from schemas import Topic, validator_for

pytestmark = pytest.mark.unit

# Hyperliquid WebSocket docs: a `trades` message (WsTrade[]), with a second trade.
MESSAGE = {
    "channel": "trades",
    "data": [
        {"coin": "kPEPE", "side": "B", "px": "0.011718", "sz": "120000", "time": 1787259217020,
         "hash": "0x" + "0" * 64, "tid": 877707108085800, "users": ["0x" + "9" * 40, "0x" + "7" * 40]},
        {"coin": "kPEPE", "side": "A", "px": "0.011717", "sz": "5500.5", "time": 1787259217021,
         "hash": "0x" + "0" * 64, "tid": 877707108085801, "users": ["0x" + "9" * 40, "0x" + "7" * 40]},
    ],
}  # fmt: skip
KPEPE = Instrument("KPEPE", "listed", True, "kPEPE", "USDC", "perp", venue_name="kPEPE")


def test_trades_keep_the_venues_text_and_the_takers_side():
    records = [trade_record(t, "hyperliquid", "perp") for t in parse_trades(MESSAGE, 5)]
    assert [(r["trade_id"], r["price"], r["size"], r["side"], r["event_time"]) for r in records] == [
        ("877707108085800", "0.011718", "120000", "buy", 1787259217020),
        ("877707108085801", "0.011717", "5500.5", "sell", 1787259217021),
    ]


@pytest.mark.parametrize(
    ("change", "needle"),
    [({"side": "buy"}, "'side' is not B or A"), ({"px": 0.011718}, "'px' is not a string"),
     ({"tid": "877707108085800"}, "'tid'"), ({"time": -1}, "'time'")],
)  # fmt: skip
def test_unusable_trades_say_why(change, needle):
    with pytest.raises(BadFrame, match=needle):
        parse_trades({**MESSAGE, "data": [{**MESSAGE["data"][0], **change}]}, 5)


def test_the_venues_coin_renames_the_stream_and_the_record_keeps_the_symbol():
    publisher = RecordingPublisher()
    feed = TradeFeed("hyperliquid", "perp", ["KPEPE"], TRADE_STREAMS["hyperliquid"], publisher)  # type: ignore[arg-type]
    assert feed.streams == ["trades:KPEPE"]
    feed.use_instrument(KPEPE)
    assert feed.streams == ["trades:kPEPE"] and feed.renames == {"trades:KPEPE": "trades:kPEPE"}
    book = {"channel": "l2Book", "data": {"coin": "kPEPE"}}
    answer = {"channel": "subscriptionResponse", "data": {"method": "subscribe"}}
    assert not feed.take(book, b"raw", 5) and not feed.take(answer, b"raw", 5)
    assert feed.take(MESSAGE, b"raw", 5)
    assert feed.take({**MESSAGE, "data": [{**MESSAGE["data"][0], "coin": "KPEPE"}]}, b"raw", 5) is False
    assert [(k, r["symbol"]) for k, r in publisher.trades] == [(b"hyperliquid:KPEPE", "KPEPE")] * 2
    for _, record in publisher.trades:
        validator_for(Topic.TRADES)(record)
    mixed = {**MESSAGE, "data": [{**MESSAGE["data"][0], "tid": 1}, {**MESSAGE["data"][1], "coin": "PEPE"}]}
    assert feed.take(mixed, b"raw", 5)
    assert [r["reason"] for r in publisher.dlq] == ["symbol 'PEPE' on stream 'trades:kPEPE'"]


def test_trade_streams_are_subscribed_as_trades():
    requests = [orjson.loads(r) for r in subscribe(["BTC", "trades:BTC", "trades:@107"])]
    assert [r["subscription"] for r in requests] == [
        {"type": "l2Book", "coin": "BTC"},
        {"type": "trades", "coin": "BTC"},
        {"type": "trades", "coin": "@107"},
    ]


def test_the_simulators_messages_parse_back_to_the_fills():
    venue = HyperliquidVenue(["BTC"], seed=5, updates_per_second=0)
    book = venue.books["BTC"]
    sent: list[Any] = []

    class Session:
        trades = {"BTC"}

        async def send(self, payload: bytes) -> None:
            sent.append(orjson.loads(payload))

    venue.sessions = {None: Session()}  # type: ignore[dict-item]
    while not book.model.fills:
        book.model.step()
    fills = book.model.fills
    asyncio.run(venue.send_trades(book, fills))
    parsed = parse_trades(sent[0], 0)
    assert [(t.trade_id, Decimal(t.price), Decimal(t.size), t.side) for t in parsed] == [
        (str(tid), Decimal(price) / 10**8, Decimal(size) / 10**8, side) for tid, price, size, side in fills
    ]
