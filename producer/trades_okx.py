"""OKX trade pushes -> ParsedTrade, exactly (prices and sizes stay the venue's decimal text).

The `trades` channel of OKX's v5 public WebSocket, subscribed by message on the book's connection
(`{"op": "subscribe", "args": [{"channel": "trades", "instId": "BTC-USDT"}]}`): each push is
{"arg": {"channel": "trades", "instId"}, "data": [{"instId", "tradeId", "px", "sz", "side",
"ts", "count"?, "seqId"?}, ...]}, one or more trades in the venue's order. `side` is the taker's
(the aggressor), `ts` the trade time in ms as a string, `tradeId` unique per instrument. Swap
sizes are contracts; the record's size is base units (contracts x ctVal, / price when inverse:
producer.trade_records.base_units with the instrument's listing)."""

from __future__ import annotations

from typing import Any

from producer.exchanges.spec import BadFrame, require_text
from producer.trade_records import ParsedTrade, TradeStream, trade_items

CHANNEL = "trades"


def channel(symbol: str) -> str:
    """Our name of an instrument's trade stream, in okx_spot's `channel:instId` form (the
    subscribe message is made of it)."""
    return f"{CHANNEL}:{symbol}"


def route(msg: Any) -> str | None:
    """The trade stream of a `trades` push; None for other messages (books, event answers)."""
    if type(msg) is not dict or "event" in msg:
        return None
    arg = msg.get("arg")
    if type(arg) is not dict or arg.get("channel") != CHANNEL or type(arg.get("instId")) is not str:
        return None
    return channel(arg["instId"])


def parse_trades(msg: dict[str, Any], receive_time_ns: int) -> list[ParsedTrade]:
    """Every trade of one push, in order (BadFrame for the whole push if any is unusable)."""
    trades = []
    for item in trade_items(msg):
        side = require_text(item, "side")
        if side not in ("buy", "sell"):
            raise BadFrame(f"field 'side' is not buy or sell: {side!r}")
        ts = require_text(item, "ts")
        if not ts.isdigit():
            raise BadFrame(f"field 'ts' is not a time in ms: {ts!r}")
        trades.append(
            ParsedTrade(
                symbol=require_text(item, "instId"),
                trade_id=require_text(item, "tradeId"),
                price=require_text(item, "px"),
                size=require_text(item, "sz"),
                side=side,
                event_time=int(ts),
                receive_time_ns=receive_time_ns,
            )
        )
    return trades


TRADES = TradeStream(channel=channel, parse=parse_trades, route=route)
