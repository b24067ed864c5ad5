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

from producer.exchanges.spec import BadFrame, require_int, require_text
from producer.trade_records import ParsedTrade, TradeStream, trade_items

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


def parse_trades(msg: dict[str, Any], receive_time_ns: int) -> list[ParsedTrade]:
    """Every trade of one push, in order (BadFrame for the whole push if any is unusable)."""
    trades = []
    for item in trade_items(msg):
        side = SIDES.get(require_text(item, "S"))
        if side is None:
            raise BadFrame(f"field 'S' is not Buy or Sell: {item['S']!r}")
        trades.append(
            ParsedTrade(
                symbol=require_text(item, "s"),
                trade_id=require_text(item, "i"),
                price=require_text(item, "p"),
                size=require_text(item, "v"),
                side=side,
                event_time=require_int(item, "T"),
                receive_time_ns=receive_time_ns,
            )
        )
    return trades


TRADES = TradeStream(channel=channel, parse=parse_trades, route=route)
