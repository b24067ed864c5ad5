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

from producer.exchanges.spec import BadFrame, require_field
from producer.trade_records import ParsedTrade, TradeStream

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
        side = _text(item, "side")
        if side not in ("buy", "sell"):
            raise BadFrame(f"field 'side' is not buy or sell: {side!r}")
        ts = _text(item, "ts")
        if not ts.isdigit():
            raise BadFrame(f"field 'ts' is not a time in ms: {ts!r}")
        trades.append(
            ParsedTrade(
                symbol=_text(item, "instId"),
                trade_id=_text(item, "tradeId"),
                price=_text(item, "px"),
                size=_text(item, "sz"),
                side=side,
                event_time=int(ts),
                receive_time_ns=receive_time_ns,
            )
        )
    return trades


TRADES = TradeStream(channel=channel, parse=parse_trades, route=route)
