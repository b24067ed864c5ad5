"""OKX and Bybit trades without a network: their documented trade pushes (OKX v5 `trades`, Bybit
v5 `publicTrade.{symbol}`) parsed exactly, several trades per push in the venue's order, the
taker's side as the aggressor, contracts to base units, duplicates dropped, bad pushes to the DLQ
whole with the reason, only trade pushes taken from the feeds; and the simulators' trade pushes
parse back to their market models' fills."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import orjson
import pytest
from test_trades_units import RecordingPublisher

from producer.exchanges.spec import BadFrame, Instrument
from producer.simulator.bybit import BybitBook
from producer.simulator.market_model import SymbolModel
from producer.simulator.okx import OkxVenue
from producer.trade_records import trade_record
from producer.trades import TRADE_STREAMS, TradeFeed
from producer.trades_bybit import parse_trades as parse_bybit
from producer.trades_okx import parse_trades as parse_okx
from schemas import Topic, validator_for

pytestmark = pytest.mark.unit

# OKX v5 docs, WebSocket public channel `trades` (push data example), with a second trade.
OKX_PUSH = {
    "arg": {"channel": "trades", "instId": "BTC-USDT"},
    "data": [
        {"instId": "BTC-USDT", "tradeId": "130639474", "px": "42219.9", "sz": "0.12060306", "side": "buy",
         "ts": "1630048897897", "count": "3", "source": "0", "seqId": 1234},
        {"instId": "BTC-USDT", "tradeId": "130639475", "px": "42219.8", "sz": "0.5", "side": "sell",
         "ts": "1630048897898", "count": "1", "source": "0", "seqId": 1235},
    ],
}  # fmt: skip
# Bybit v5 docs, WebSocket public trade (response example: a USDT perpetual), with a second trade.
BYBIT_PUSH = {
    "topic": "publicTrade.BTCUSDT",
    "type": "snapshot",
    "ts": 1672304486868,
    "data": [
        {"T": 1672304486865, "s": "BTCUSDT", "S": "Buy", "v": "0.001", "p": "16578.50", "L": "PlusTick",
         "i": "20f43950-d8dd-5b31-9112-a178eb6023af", "BT": False},
        {"T": 1672304486866, "s": "BTCUSDT", "S": "Sell", "v": "0.25", "p": "16578.00", "L": "MinusTick",
         "i": "20f43950-d8dd-5b31-9112-a178eb6023b0", "BT": False},
    ],
}  # fmt: skip


def test_an_okx_push_gives_each_trade_with_the_venues_exact_text():
    records = [trade_record(t, "okx", "spot") for t in parse_okx(OKX_PUSH, 5)]
    assert [(r["trade_id"], r["price"], r["size"], r["side"], r["event_time"]) for r in records] == [
        ("130639474", "42219.9", "0.12060306", "buy", 1630048897897),
        ("130639475", "42219.8", "0.5", "sell", 1630048897898),
    ]
    for record in records:
        validator_for(Topic.TRADES)(record)


def test_okx_swap_contracts_are_base_units():
    linear = Instrument("BTC-USDT-SWAP", "live", True, "BTC", "USDT", "perp", Decimal("0.01"))
    inverse = Instrument("BTC-USD-SWAP", "live", True, "BTC", "USD", "perp", Decimal(100), inverse=True)
    push = {**OKX_PUSH, "data": [{**OKX_PUSH["data"][0], "instId": "BTC-USDT-SWAP", "sz": "12"}]}
    assert trade_record(parse_okx(push, 5)[0], "okx_swap", "swap", linear)["size"] == "0.120000000"
    # 12 contracts x 100 USD / 42219.9 = 0.028422615... (half-even to 9 decimals)
    record = trade_record(parse_okx(push, 5)[0], "okx_swap", "swap", inverse)
    assert Decimal(record["size"]) == (Decimal(1200) / Decimal("42219.9")).quantize(Decimal("1e-9"))


def test_a_bybit_push_gives_each_trade_with_the_takers_side():
    records = [trade_record(t, "bybit_linear", "linear") for t in parse_bybit(BYBIT_PUSH, 5)]
    assert [(r["trade_id"], r["price"], r["size"], r["side"], r["event_time"]) for r in records] == [
        ("20f43950-d8dd-5b31-9112-a178eb6023af", "16578.50", "0.001", "buy", 1672304486865),
        ("20f43950-d8dd-5b31-9112-a178eb6023b0", "16578.00", "0.25", "sell", 1672304486866),
    ]
    for record in records:
        validator_for(Topic.TRADES)(record)


def test_bybit_inverse_contracts_of_one_usd_are_base_units():
    btcusd = Instrument("BTCUSD", "Trading", True, "BTC", "USD", "perp", Decimal(1), inverse=True)
    push = {**BYBIT_PUSH, "data": [{**BYBIT_PUSH["data"][0], "s": "BTCUSD", "v": "1000", "p": "16000"}]}
    assert trade_record(parse_bybit(push, 5)[0], "bybit_inverse", "inverse", btcusd)["size"] == "0.062500000"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"px": 42219.9}, "'px' is not a string"),
        ({"side": "Buy"}, "'side' is not buy or sell"),
        ({"ts": 1630048897897}, "'ts' is not a string"),
        ({"ts": "-1"}, "'ts' is not a time in ms"),
        ({"tradeId": None}, "'tradeId' is not a string"),
    ],
)
def test_unusable_okx_trades_say_why(change, needle):
    push = {**OKX_PUSH, "data": [OKX_PUSH["data"][0], {**OKX_PUSH["data"][1], **change}]}
    with pytest.raises(BadFrame, match=needle):
        parse_okx(push, 5)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"S": "buy"}, "'S' is not Buy or Sell"),
        ({"v": 0.25}, "'v' is not a string"),
        ({"T": "1672304486866"}, "'T' is not a non-negative integer"),
        ({"i": 7}, "'i' is not a string"),
    ],
)
def test_unusable_bybit_trades_say_why(change, needle):
    push = {**BYBIT_PUSH, "data": [{**BYBIT_PUSH["data"][0], **change}]}
    with pytest.raises(BadFrame, match=needle):
        parse_bybit(push, 5)


def test_the_feed_takes_only_trade_pushes_and_sends_a_bad_push_to_the_dlq_whole():
    publisher = RecordingPublisher()
    feed = TradeFeed("okx", "spot", ["BTC-USDT"], TRADE_STREAMS["okx"], publisher)  # type: ignore[arg-type]
    assert feed.streams == ["trades:BTC-USDT"]
    book_push = {"arg": {"channel": "books", "instId": "BTC-USDT"}, "action": "update", "data": [{}]}
    answer = {"event": "subscribe", "arg": {"channel": "trades", "instId": "BTC-USDT"}, "connId": "a"}
    other = {**OKX_PUSH, "arg": {"channel": "trades", "instId": "ETH-USDT"}}  # not one of ours
    assert not any(feed.take(m, b"raw", 5) for m in (book_push, answer, other, [1], "pong"))
    repeat = {**OKX_PUSH, "data": [OKX_PUSH["data"][1], {**OKX_PUSH["data"][1], "tradeId": "130639476"}]}
    bad = {**OKX_PUSH, "data": [{**OKX_PUSH["data"][0], "tradeId": "9"}, {**OKX_PUSH["data"][1], "px": "x"}]}
    foreign = {**OKX_PUSH, "data": [{**OKX_PUSH["data"][0], "instId": "ETH-USDT"}]}
    assert all(feed.take(m, b"raw", 5) for m in (OKX_PUSH, repeat, bad, foreign, {**OKX_PUSH, "data": []}))
    assert [r["trade_id"] for _, r in publisher.trades] == ["130639474", "130639475", "130639476"]
    assert [r["reason"] for r in publisher.dlq] == [
        "price 'x' is not a decimal",
        "symbol 'ETH-USDT' on stream 'trades:BTC-USDT'",
        "field 'data' is not a non-empty list of trades",
    ]
    assert feed.counts() == {"BTC-USDT": {"published": 3, "duplicates": 1, "dlq": 3}}


def test_bybit_routes_publictrade_topics_only():
    publisher = RecordingPublisher()
    feed = TradeFeed("bybit", "spot", ["BTCUSDT"], TRADE_STREAMS["bybit"], publisher)  # type: ignore[arg-type]
    assert feed.streams == ["publicTrade.BTCUSDT"]
    book = {"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": 1, "data": {}}
    pong = {"success": True, "ret_msg": "pong", "op": "ping"}
    assert not feed.take(book, b"raw", 5) and not feed.take(pong, b"raw", 5)
    assert feed.take(BYBIT_PUSH, b"raw", 5) and len(publisher.trades) == 2


def _fills(model: SymbolModel) -> list[tuple[int, int, int, str]]:
    while not model.fills:
        model.step()
    return model.fills


def _expected(fills: list[tuple[int, int, int, str]]) -> list[tuple[Decimal, Decimal, str]]:
    return [(Decimal(price) / 10**8, Decimal(size) / 10**8, side) for _, price, size, side in fills]


def test_the_okx_simulators_trade_pushes_parse_back_to_the_fills():
    venue = OkxVenue(["BTC-USDT"], seed=5, updates_per_second=0)
    sent: list[Any] = []

    class Session:
        trades = {"BTC-USDT"}

        async def send(self, payload: bytes) -> None:
            sent.append(orjson.loads(payload))

    venue.sessions = {Session()}  # type: ignore[arg-type]
    fills = _fills(venue.books["BTC-USDT"].model)
    asyncio.run(venue.send_trades("BTC-USDT", fills))
    parsed = parse_okx(sent[0], 0)
    assert [(Decimal(t.price), Decimal(t.size), t.side) for t in parsed] == _expected(fills)
    assert [t.trade_id for t in parsed] == [str(f[0]) for f in fills]


@pytest.mark.parametrize("category", ["spot", "linear"])
def test_the_bybit_simulators_trade_pushes_parse_back_to_the_fills(category):
    book = BybitBook(category, "BTCUSDT", SymbolModel("BTCUSDT", 5))
    fills = _fills(book.model)
    parsed = parse_bybit(orjson.loads(book.trades(fills)), 0)
    assert [(Decimal(t.price), Decimal(t.size), t.side) for t in parsed] == _expected(fills)
    ids = [t.trade_id for t in parsed]
    assert len(set(ids)) == len(ids) and (all(i.isdigit() for i in ids) if category == "spot" else True)
