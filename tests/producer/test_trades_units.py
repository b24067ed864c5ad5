"""The producer's trades without a network: Binance trade and aggTrade frames parsed exactly,
sizes in contracts to base units, the record's digit rules, duplicates dropped, bad frames to
the DLQ with the reason; and the simulator's trades are the levels its market orders take."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from producer.exchanges.spec import BadFrame, Instrument
from producer.simulator.market_model import SymbolModel, agg_trade_events, trade_events
from producer.trade_records import ParsedTrade, trade_record
from producer.trades import TRADE_STREAMS, RecentIds, TradeFeed
from producer.trades_binance import parse_agg_trade, parse_spot_trade
from schemas import Topic, validator_for

pytestmark = pytest.mark.unit

SPOT_FRAME = {"e": "trade", "E": 1723161240125, "s": "ETHUSDT", "t": 1544520386, "p": "2511.51000000",
              "q": "0.00230000", "T": 1723161240121, "m": True, "M": True}  # fmt: skip
AGG_FRAME = {"e": "aggTrade", "E": 1723161240125, "s": "BTCUSD_PERP", "a": 99, "p": "60000.5", "q": "7",
             "f": 120, "l": 122, "T": 1723161240121, "m": False}  # fmt: skip


def test_a_spot_trade_is_published_with_the_venues_exact_text():
    record = trade_record(parse_spot_trade(SPOT_FRAME, 5)[0], "binance", "spot")
    assert record == {
        "schema_version": 1, "exchange": "binance", "market": "spot", "symbol": "ETHUSDT",
        "trade_id": "1544520386", "price": "2511.51000000", "size": "0.00230000",
        "side": "sell",  # the buyer was the maker: the aggressor sold
        "event_time": 1723161240121, "receive_time_ns": 5,
    }  # fmt: skip
    validator_for(Topic.TRADES)(record)


def test_a_coinm_aggregate_trade_in_contracts_is_published_in_base_units():
    btc = Instrument("BTCUSD_PERP", "TRADING", True, "BTC", "USD", "perp", Decimal(100), inverse=True)
    record = trade_record(parse_agg_trade(AGG_FRAME, 5)[0], "binance_coinm", "coinm", btc)
    # 7 contracts x 100 USD / 60000.5 = 0.011666569... rounded half-even to 9 decimals
    assert (record["trade_id"], record["side"], record["size"]) == ("99", "buy", "0.011666569")
    assert Decimal(record["size"]) == (Decimal(700) / Decimal("60000.5")).quantize(Decimal("1e-9"))


def test_linear_contracts_are_multiplied_exactly():
    eth = Instrument("ETH-USDT-SWAP", "live", True, "ETH", "USDT", "perp", Decimal("0.1"))
    trade = ParsedTrade("ETH-USDT-SWAP", "1", "2511.5", "3", "buy", 1, 1)
    assert trade_record(trade, "okx", "swap", eth)["size"] == "0.300000000"


@pytest.mark.parametrize(
    ("price", "published"),
    [("2511.510000000000", "2511.51"), ("0.00001234", "0.00001234"), ("61234.1", "61234.1")],
)
def test_text_with_spare_zeros_is_normalized_to_fit(price, published):
    trade = ParsedTrade("ETHUSDT", "1", price, "1.5", "buy", 1, 1)
    assert trade_record(trade, "binance", "spot")["price"] == published


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"p": 2511.5}, "decimal strings"),
        ({"p": "0.00000000"}, "not a positive decimal"),
        ({"p": "abc"}, "not a decimal"),
        ({"p": "0.000000000012"}, "more digits"),
        ({"q": "-1"}, "not a positive decimal"),
        ({"m": "true"}, "'m' is not a boolean"),
        ({"t": -1}, "'t'"),
        ({"T": "1723161240121"}, "'T'"),
        ({"e": "aggTrade"}, "not a trade event"),
    ],
)
def test_unusable_spot_frames_say_why(change, needle):
    with pytest.raises(BadFrame) as info:
        trade_record(parse_spot_trade({**SPOT_FRAME, **change}, 5)[0], "binance", "spot")
    assert needle in str(info.value)


def test_a_frame_without_a_field_names_it():
    frame = dict(SPOT_FRAME)
    del frame["q"]
    with pytest.raises(BadFrame, match="missing field 'q'"):
        parse_spot_trade(frame, 5)


def test_recent_ids_forget_the_oldest():
    ids = RecentIds(size=3)
    assert [ids.add(i) for i in ("1", "2", "3", "1", "4", "1")] == [True, True, True, False, True, True]


class RecordingPublisher:
    """Stands in for RecordPublisher (pure routing logic under test): what would be produced."""

    def __init__(self) -> None:
        self.trades: list[tuple[bytes, dict[str, Any]]] = []
        self.dlq: list[dict[str, Any]] = []

    def publish_trade(self, key: bytes, record: dict[str, Any]) -> bool:
        self.trades.append((key, record))
        return True

    def publish_dlq(self, record: dict[str, Any]) -> None:
        self.dlq.append(record)


def test_the_feed_publishes_each_trade_once_and_sends_bad_frames_to_the_dlq():
    publisher = RecordingPublisher()
    feed = TradeFeed("binance", "spot", ["ETHUSDT"], TRADE_STREAMS["binance"], publisher)  # type: ignore[arg-type]
    assert feed.streams == ["ethusdt@trade"]
    second = {**SPOT_FRAME, "t": SPOT_FRAME["t"] + 1}
    for data in (SPOT_FRAME, second, SPOT_FRAME, {**SPOT_FRAME, "s": "BTCUSDT"}, [1], {**second, "p": "x"}):
        feed.on_data("ethusdt@trade", data, b"raw frame", 5)
    assert [(k, r["trade_id"]) for k, r in publisher.trades] == [
        (b"binance:ETHUSDT", "1544520386"),
        (b"binance:ETHUSDT", "1544520387"),
    ]
    reasons = [r["reason"] for r in publisher.dlq]
    assert reasons == [
        "symbol 'BTCUSDT' on stream 'ethusdt@trade'",
        "data is not an object",
        "price 'x' is not a decimal",
    ]
    assert all(r["key"] == "binance:ETHUSDT" and r["origin"] == "ethusdt@trade" for r in publisher.dlq)
    assert feed.counts() == {"ETHUSDT": {"published": 2, "duplicates": 1, "dlq": 3}}


def test_simulated_market_orders_trade_the_levels_they_take():
    model = SymbolModel("ETHUSDT", seed=3)
    for side, aggressor in (("asks", "buy"), ("bids", "sell")):
        before = dict(model.book.levels(side, 5))
        model.fills = []
        changes: dict[int, int] = {}
        model._market(side, changes)
        assert model.fills, "a market order trades"
        assert [price for _, price, _, _ in model.fills] == list(before)[: len(model.fills)]
        for i, (_, price, size, who) in enumerate(model.fills):
            assert who == aggressor
            assert size == before[price] - changes[price]
            if i < len(model.fills) - 1:
                assert changes[price] == 0, "only the last level is taken in part"
        ids = [tid for tid, _, _, _ in model.fills]
        assert ids == list(range(ids[0], ids[0] + len(ids)))


def test_simulated_trade_frames_parse_back_to_the_fills():
    model = SymbolModel("ETHUSDT", seed=5)
    while not model.fills:
        model.step()
    fills = model.fills
    spot = [parse_spot_trade(e, 0)[0] for e in trade_events("ETHUSDT", 1000, fills)]
    futures = [parse_agg_trade(e, 0)[0] for e in agg_trade_events("ETHUSDT", 1000, fills)]
    for parsed in (spot, futures):
        assert [(t.trade_id, Decimal(t.price), Decimal(t.size), t.side) for t in parsed] == [
            (str(tid), Decimal(price) / 10**8, Decimal(size) / 10**8, side)
            for tid, price, size, side in fills
        ]
