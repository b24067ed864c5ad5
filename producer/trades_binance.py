"""Binance trade frames -> ParsedTrade, exactly (prices and sizes stay the venue's decimal text).

Spot: `<symbol>@trade`, one frame per trade: {"e": "trade", "E", "s", "t" (trade id), "p", "q",
"T" (trade time), "m" (buyer is maker), ...}. USD-M and COIN-M futures: `<symbol>@aggTrade`, the
trade stream Binance documents for futures: {"e": "aggTrade", "E", "s", "a" (aggregate trade id),
"p", "q", "f", "l" (first and last trade id), "T", "m"}; one record per aggregate trade (the fills
of one taker order at one price), identified by `a`. `m` true means the buyer was the maker, so
the aggressor sold. COIN-M quantities are contracts; the record's size is base units
(contracts x contract size / price, producer.trade_records.base_units)."""

from __future__ import annotations

from typing import Any

from producer.exchanges.spec import BadFrame, require_field, require_int
from producer.trade_records import ParsedTrade, TradeStream


def _parse(data: dict[str, Any], receive_time_ns: int, event: str, id_field: str) -> ParsedTrade:
    if data.get("e") != event:
        raise BadFrame(f"not a {event} event: e={data.get('e')!r}")
    symbol = require_field(data, "s")
    if type(symbol) is not str:
        raise BadFrame(f"field 's' is not a string: {symbol!r}")
    maker_buys = require_field(data, "m")
    if type(maker_buys) is not bool:
        raise BadFrame(f"field 'm' is not a boolean: {maker_buys!r}")
    price, size = require_field(data, "p"), require_field(data, "q")
    if type(price) is not str or type(size) is not str:
        raise BadFrame(f"price and quantity must be decimal strings: p={price!r} q={size!r}")
    return ParsedTrade(
        symbol=symbol,
        trade_id=str(require_int(data, id_field)),
        price=price,
        size=size,
        side="sell" if maker_buys else "buy",
        event_time=require_int(data, "T"),
        receive_time_ns=receive_time_ns,
    )


def parse_spot_trade(data: dict[str, Any], receive_time_ns: int) -> list[ParsedTrade]:
    return [_parse(data, receive_time_ns, "trade", "t")]


def parse_agg_trade(data: dict[str, Any], receive_time_ns: int) -> list[ParsedTrade]:
    return [_parse(data, receive_time_ns, "aggTrade", "a")]


SPOT = TradeStream(channel=lambda symbol: f"{symbol.lower()}@trade", parse=parse_spot_trade)
FUTURES = TradeStream(channel=lambda symbol: f"{symbol.lower()}@aggTrade", parse=parse_agg_trade)
