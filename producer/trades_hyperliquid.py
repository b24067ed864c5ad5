"""Hyperliquid trade messages -> ParsedTrade, exactly (prices and sizes stay the venue's decimal
text).

Subscribed by message on the book's connection, `{"method": "subscribe", "subscription": {"type":
"trades", "coin": "BTC"}}` (answered by a `subscriptionResponse`, which the book parser passes
over); each message is {"channel": "trades", "data": [{"coin", "side" ("B": the taker bought,
"A": the taker sold), "px", "sz", "time" (ms), "hash", "tid" (the trade id), "users" [buyer,
seller]}, ...]}, one or more trades in the venue's order. Sizes are base units (coins, base
tokens on spot). The coin is the venue's name (`kPEPE`, spot `@107`): the trade feed renames
the stream from the symbol once the listing is read (`Instrument.venue_name`) and publishes the
record under the symbol (`KPEPE`, `HYPE-USDC`)."""

from __future__ import annotations

from typing import Any

from producer.exchanges.spec import BadFrame, require_int, require_text
from producer.trade_records import ParsedTrade, TradeStream, trade_items

CHANNEL = "trades"
PREFIX = f"{CHANNEL}:"
SIDES = {"B": "buy", "A": "sell"}


def channel(coin: str) -> str:
    return PREFIX + coin


def route(msg: Any) -> str | None:
    """The trade stream of a `trades` message; None for anything else (books, answers, pongs)."""
    if type(msg) is not dict or msg.get("channel") != CHANNEL:
        return None
    data = msg.get("data")
    first = data[0] if type(data) is list and data else None
    coin = first.get("coin") if type(first) is dict else None
    return channel(coin) if type(coin) is str else None


def parse_trades(msg: dict[str, Any], receive_time_ns: int) -> list[ParsedTrade]:
    """Every trade of one message, in order (BadFrame for the whole message if any is unusable)."""
    trades = []
    for item in trade_items(msg):
        side = SIDES.get(require_text(item, "side"))
        if side is None:
            raise BadFrame(f"field 'side' is not B or A: {item['side']!r}")
        trades.append(
            ParsedTrade(
                symbol=require_text(item, "coin"),
                trade_id=str(require_int(item, "tid")),
                price=require_text(item, "px"),
                size=require_text(item, "sz"),
                side=side,
                event_time=require_int(item, "time"),
                receive_time_ns=receive_time_ns,
            )
        )
    return trades


TRADES = TradeStream(channel=channel, parse=parse_trades, route=route)
