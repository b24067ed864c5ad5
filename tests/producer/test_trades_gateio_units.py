"""Gate.io trades without a network: the documented `spot.trades` (one trade, a fractional
`create_time_ms`) and `futures.trades` (a list, signed contract sizes) notifications parsed
exactly, contracts to base units, the subscription's answer taken without a record, an error
answer left to the book parser (the DLQ), bad notifications refused with the reason, the
subscribe requests of trade streams; and the simulator's notifications parse back to the fills."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from test_trades_units import RecordingPublisher

from producer.exchanges.gateio_futures import EXCHANGE as FUTURES_SPEC
from producer.exchanges.spec import BadFrame, Instrument
from producer.simulator.gateio import GateBook
from producer.simulator.market_model import SymbolModel
from producer.trade_records import trade_record
from producer.trades import TRADE_STREAMS, TradeFeed
from producer.trades_gateio import FUTURES, SPOT, parse_futures, parse_spot
from schemas import Topic, validator_for

pytestmark = pytest.mark.unit

# Gate.io v4 WebSocket docs: spot.trades and futures.trades notification examples.
SPOT_UPDATE = {
    "time": 1606292218, "time_ms": 1606292218231, "channel": "spot.trades", "event": "update",
    "result": {"id": 309143071, "create_time": 1606292218, "create_time_ms": "1606292218213.4578",
               "side": "sell", "currency_pair": "GT_USDT", "amount": "16.4700000000", "price": "0.4705000000",
               "range": "2390902-2390902"},
}  # fmt: skip
FUTURES_UPDATE = {
    "channel": "futures.trades", "event": "update", "time": 1541503698, "time_ms": 1541503698123,
    "result": [
        {"size": -108, "id": 27753479, "create_time": 1545136464, "create_time_ms": 1545136464123,
         "price": "96.4", "contract": "BTC_USDT", "is_internal": True},
        {"size": "2.5", "id": 27753480, "create_time": 1545136464, "create_time_ms": 1545136464124,
         "price": "96.5", "contract": "BTC_USDT"},
    ],
}  # fmt: skip
BTC = Instrument("BTC_USDT", "trading", True, "BTC", "USDT", "perp", Decimal("0.0001"))


def test_a_spot_trade_keeps_the_venues_text_where_it_fits_and_its_time_in_whole_ms():
    record = trade_record(parse_spot(SPOT_UPDATE, 5)[0], "gateio", "spot")
    assert record == {
        "schema_version": 1, "exchange": "gateio", "market": "spot", "symbol": "GT_USDT",
        "trade_id": "309143071", "price": "0.4705000000", "side": "sell",
        "size": "16.47",  # Gate.io's 10 decimals of zeros, normalized to fit the record's 9
        "event_time": 1606292218213, "receive_time_ns": 5,
    }  # fmt: skip
    validator_for(Topic.TRADES)(record)


def test_futures_trades_are_signed_contracts_published_in_base_units():
    records = [trade_record(t, "gateio_futures", "futures", BTC) for t in parse_futures(FUTURES_UPDATE, 5)]
    assert [(r["trade_id"], r["side"], r["size"], r["price"], r["event_time"]) for r in records] == [
        ("27753479", "sell", "0.010800000", "96.4", 1545136464123),
        ("27753480", "buy", "0.000250000", "96.5", 1545136464124),
    ]
    for record in records:
        validator_for(Topic.TRADES)(record)


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"side": "Sell"}, "'side' is not buy or sell"),
        ({"amount": 16.47}, "'amount' is not a string"),
        ({"id": "309143071"}, "'id' is not a non-negative integer"),
        ({"create_time_ms": "soon"}, "'create_time_ms' is not a time in ms"),
        ({"create_time_ms": 1606292218213.4578}, "'create_time_ms' is not a time in ms"),
    ],
)
def test_unusable_spot_trades_say_why(change, needle):
    with pytest.raises(BadFrame, match=needle):
        parse_spot({**SPOT_UPDATE, "result": {**SPOT_UPDATE["result"], **change}}, 5)


@pytest.mark.parametrize(
    ("change", "needle"),
    [({"size": 0}, "non-zero number of contracts"), ({"size": 1.5}, "non-zero number of contracts"),
     ({"price": 96.4}, "'price' is not a string"), ({"contract": None}, "'contract' is not a string")],
)  # fmt: skip
def test_unusable_futures_trades_say_why(change, needle):
    update = {**FUTURES_UPDATE, "result": [{**FUTURES_UPDATE["result"][0], **change}]}
    with pytest.raises(BadFrame, match=needle):
        parse_futures(update, 5)


def test_the_feed_takes_trade_updates_and_answers_and_leaves_the_rest():
    publisher = RecordingPublisher()
    feed = TradeFeed("gateio_futures", "futures", ["BTC_USDT"], TRADE_STREAMS["gateio_futures"], publisher)  # type: ignore[arg-type]
    feed.use_instrument(BTC)
    assert feed.streams == ["futures.trades:BTC_USDT"]
    answer = {"time": 1, "channel": "futures.trades", "event": "subscribe", "error": None,
              "result": {"status": "success"}}  # fmt: skip
    refused = {**answer, "error": {"code": 2, "message": "invalid argument"}, "result": None}
    book = {"channel": "futures.order_book_update", "event": "update", "result": {"s": "BTC_USDT"}}
    assert feed.take(answer, b"raw", 5)
    assert not feed.take(refused, b"raw", 5) and not feed.take(book, b"raw", 5)
    assert feed.take(FUTURES_UPDATE, b"raw", 5) and feed.take(FUTURES_UPDATE, b"raw", 5)
    assert [r["size"] for _, r in publisher.trades] == ["0.010800000", "0.000250000"]
    assert feed.counts() == {"BTC_USDT": {"published": 2, "duplicates": 2, "dlq": 0}}


def test_trade_streams_are_subscribed_with_the_pair_alone():
    streams = [FUTURES_SPEC.diff_channel("BTC_USDT"), FUTURES.channel("BTC_USDT")]
    assert FUTURES_SPEC.subscribe is not None
    requests = [orjson.loads(r) for r in FUTURES_SPEC.subscribe(streams)]
    assert [(r["channel"], r["event"], r["payload"]) for r in requests] == [
        ("futures.order_book_update", "subscribe", ["BTC_USDT", "100ms"]),
        ("futures.trades", "subscribe", ["BTC_USDT"]),
    ]
    assert SPOT.channel("BTC_USDT") == "spot.trades:BTC_USDT"


@pytest.mark.parametrize("market", ["spot", "futures"])
def test_the_simulators_notifications_parse_back_to_the_fills(market):
    book = GateBook(market, "BTC_USDT", SymbolModel("BTCUSDT", 5))
    while not book.model.fills:
        book.model.step()
    fills = book.model.fills
    parse = parse_spot if market == "spot" else parse_futures
    parsed = [t for payload in book.trades(fills) for t in parse(orjson.loads(payload), 0)]
    assert [t.trade_id for t in parsed] == [str(f[0]) for f in fills]
    assert [(Decimal(t.price), t.side) for t in parsed] == [(Decimal(p) / 10**8, s) for _, p, _, s in fills]
    want = [
        Decimal(size) / 10**8 if market == "spot" else Decimal(book.size_text(size))
        for _, _, size, _ in fills
    ]
    assert [Decimal(t.size) for t in parsed] == want
