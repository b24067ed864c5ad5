"""Gate.io (API v4) trade notifications -> ParsedTrade, exactly (prices and sizes stay the
venue's decimal text).

Subscribed by message on the book's connection, `{"time", "channel": "spot.trades" |
"futures.trades", "event": "subscribe", "payload": [pair]}`; the answer (`event` subscribe,
`error` null) publishes nothing. Spot notifications carry one trade: {"channel": "spot.trades",
"event": "update", "result": {"id", "create_time", "create_time_ms" (ms, a decimal string with a
fraction), "side" (the taker's: buy | sell), "currency_pair", "amount", "price", "range"}}.
USDT futures notifications carry a list: {"channel": "futures.trades", "event": "update",
"result": [{"id", "size" (contracts, negative when the taker sold; an integer, or a decimal
string on contracts with fractional sizes), "create_time", "create_time_ms", "price",
"contract"}, ...]}; the record's size is base units, |size| x quanto_multiplier
(producer.trade_records.base_units with the contract's listing)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from producer.exchanges.spec import BadFrame, require_field, require_text
from producer.trade_records import CONTROL, ParsedTrade, TradeStream


def _router(channel: str, symbol_key: str) -> Callable[[Any], str | None]:
    def route(msg: Any) -> str | None:
        """The trade stream of a `<market>.trades` update; CONTROL for the answer to our
        subscription; None for anything else (books, pongs, errors: the book parser's)."""
        if type(msg) is not dict or msg.get("channel") != channel or msg.get("error") is not None:
            return None
        event = msg.get("event")
        if event in ("subscribe", "unsubscribe"):
            return CONTROL
        if event != "update":
            return None
        result = msg.get("result")
        first = result[0] if type(result) is list and result else result
        symbol = first.get(symbol_key) if type(first) is dict else None
        return f"{channel}:{symbol}" if type(symbol) is str else None

    return route


def _trade_id(item: dict[str, Any]) -> str:
    value = require_field(item, "id")
    if type(value) is not int or value < 0:
        raise BadFrame(f"field 'id' is not a non-negative integer: {value!r}")
    return str(value)


def _time_ms(item: dict[str, Any]) -> int:
    """`create_time_ms`: an integer, or (spot) a decimal string with a fraction of a ms."""
    value = require_field(item, "create_time_ms")
    if type(value) is int and value >= 0:
        return value
    if type(value) is str:
        try:
            number = Decimal(value)
        except InvalidOperation:
            number = Decimal(-1)
        if number.is_finite() and number >= 0:
            return int(number.to_integral_value(rounding=ROUND_FLOOR))
    raise BadFrame(f"field 'create_time_ms' is not a time in ms: {value!r}")


def parse_spot(msg: dict[str, Any], receive_time_ns: int) -> list[ParsedTrade]:
    result = msg.get("result")
    if type(result) is not dict:
        raise BadFrame("field 'result' is not a trade object")
    side = require_text(result, "side")
    if side not in ("buy", "sell"):
        raise BadFrame(f"field 'side' is not buy or sell: {side!r}")
    return [
        ParsedTrade(
            symbol=require_text(result, "currency_pair"),
            trade_id=_trade_id(result),
            price=require_text(result, "price"),
            size=require_text(result, "amount"),
            side=side,
            event_time=_time_ms(result),
            receive_time_ns=receive_time_ns,
        )
    ]


def _contracts(item: dict[str, Any]) -> tuple[str, str]:
    """`size` -> (contracts as text, the taker's side): negative when the taker sold."""
    value = require_field(item, "size")
    text = str(value) if type(value) is int else value
    if type(text) is not str or text in ("0", "-0") or not text.lstrip("-"):
        raise BadFrame(f"field 'size' is not a non-zero number of contracts: {value!r}")
    return (text[1:], "sell") if text.startswith("-") else (text, "buy")


def parse_futures(msg: dict[str, Any], receive_time_ns: int) -> list[ParsedTrade]:
    result = msg.get("result")
    if type(result) is not list or not result:
        raise BadFrame("field 'result' is not a non-empty list of trades")
    trades = []
    for item in result:
        if type(item) is not dict:
            raise BadFrame(f"a trade is not an object: {item!r}")
        size, side = _contracts(item)
        trades.append(
            ParsedTrade(
                symbol=require_text(item, "contract"),
                trade_id=_trade_id(item),
                price=require_text(item, "price"),
                size=size,
                side=side,
                event_time=_time_ms(item),
                receive_time_ns=receive_time_ns,
            )
        )
    return trades


SPOT = TradeStream(
    channel=lambda symbol: f"spot.trades:{symbol}",
    parse=parse_spot,
    route=_router("spot.trades", "currency_pair"),
)
FUTURES = TradeStream(
    channel=lambda symbol: f"futures.trades:{symbol}",
    parse=parse_futures,
    route=_router("futures.trades", "contract"),
)
