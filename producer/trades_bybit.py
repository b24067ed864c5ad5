"""Bybit v5 trade pushes -> ParsedTrade, exactly (prices and sizes stay the venue's decimal text).

The `publicTrade.{symbol}` topic of Bybit's v5 public WebSocket (spot, linear, inverse),
subscribed by message on the book's connection: each push is {"topic": "publicTrade.BTCUSDT",
"type": "snapshot", "ts", "data": [{"T" (trade time, ms), "s", "S" (the taker's side: Buy |
Sell), "v" (size), "p" (price), "L" (tick direction, futures), "i" (trade id: digits on spot, a
UUID on contracts), "BT" (block trade)}, ...]}, one or more trades in the venue's order. Spot and
linear sizes are base units; inverse sizes are contracts of 1 USD, published as base units
(contracts / price: producer.trade_records.base_units with the instrument's listing)."""

from __future__ import annotations

from typing import Any

from producer.exchanges.spec import BadFrame, require_field, require_int
from producer.trade_records import ParsedTrade, TradeStream

TOPIC = "publicTrade"
SIDES = {"Buy": "buy", "Sell": "sell"}


def channel(symbol: str) -> str:
    return f"{TOPIC}.{symbol}"


def route(msg: Any) -> str | None:
    """The topic of a publicTrade push; None for other messages (books, answers to our ops)."""
    if type(msg) is not dict:
        return None
    topic = msg.get("topic")
    return topic if type(topic) is str and topic.startswith(TOPIC + ".") else None


def _text(item: dict[str, Any], key: str) -> str:
    value = require_field(item, key)
    if type(value) is not str:
        raise BadFrame(f"field {key!r} is not a string: {value!r}")
    return value


def parse_trades(msg: dict[str, Any], receive_time_ns: int) -> list[ParsedTrade]:
    """Every trade of one push, in order (BadFrame for the whole push if any is unusable)."""
    data = msg.get("data")
    if type(data) is not list or not data:
        raise BadFrame("field 'data' is not a non-empty list of trades")
    trades = []
    for item in data:
        if type(item) is not dict:
            raise BadFrame(f"a trade is not an object: {item!r}")
        side = SIDES.get(_text(item, "S"))
        if side is None:
            raise BadFrame(f"field 'S' is not Buy or Sell: {item['S']!r}")
        trades.append(
            ParsedTrade(
                symbol=_text(item, "s"),
                trade_id=_text(item, "i"),
                price=_text(item, "p"),
                size=_text(item, "v"),
                side=side,
                event_time=require_int(item, "T"),
                receive_time_ns=receive_time_ns,
            )
        )
    return trades


TRADES = TradeStream(channel=channel, parse=parse_trades, route=route)
