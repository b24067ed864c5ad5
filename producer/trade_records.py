"""A venue's trade, parsed, and the trades.raw record made of it, exactly.

Prices and sizes are the venue's decimal text, checked against the record's own rules (the
`price` and `size` patterns of schemas/trades.raw, which fit the DECIMAL types the trade_bars job
sums them in): text that fits is published as it came; text with more digits than that is
normalized (trailing zeros dropped) when that makes it fit, and refused otherwise. Nothing goes
through a float. Venues that count contracts publish base units: contracts x contract size
(linear), or contracts x contract size / price (inverse), rounded half-even to the size's 9
decimals (a quotient of decimals rarely ends)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any

from producer.exchanges.spec import BadFrame, Instrument
from schemas import Topic, load_schema

_PROPS = load_schema(Topic.TRADES)["properties"]
_PRICE_RE = re.compile(_PROPS["price"]["pattern"])
_SIZE_RE = re.compile(_PROPS["size"]["pattern"])
_TRADE_ID_RE = re.compile(_PROPS["trade_id"]["pattern"])
_SIZE_QUANTUM = Decimal("0.000000001")
_WIDE = Context(prec=60)
# TradeStream.route's answer for a control message of a trade channel (a subscription's answer).
CONTROL = ""


@dataclass(frozen=True, slots=True)
class ParsedTrade:
    """One trade as a venue's frame gives it (sizes in the venue's unit: base or contracts)."""

    symbol: str
    trade_id: str
    price: str
    size: str
    side: str  # the aggressor: buy | sell
    event_time: int  # trade time at the venue, ms
    receive_time_ns: int


@dataclass(frozen=True)
class TradeStream:
    """What a venue's exchange module offers for trades: the stream name of a symbol, and the
    parser of its frames' data into the trades they carry, in the venue's order (BadFrame with
    the reason for anything unusable). Venues with their own message shape (OKX, Bybit) ride on
    the stream/message feeds, which read every frame themselves: `route` names the trade stream
    of a decoded message that is a trade push, CONTROL for the venue's answer to a trade
    subscription (nothing to publish), None for anything else (books, other answers, errors)."""

    channel: Callable[[str], str]
    parse: Callable[[dict[str, Any], int], list[ParsedTrade]]
    route: Callable[[Any], str | None] | None = None


def trade_items(msg: dict[str, Any]) -> list[dict[str, Any]]:
    """The trades of a venue's push: its `data`, a non-empty list of objects (BadFrame otherwise,
    for the whole push: a frame is published whole or not at all)."""
    data = msg.get("data")
    if type(data) is not list or not data:
        raise BadFrame("field 'data' is not a non-empty list of trades")
    for item in data:
        if type(item) is not dict:
            raise BadFrame(f"a trade is not an object: {item!r}")
    return data


def exact_text(text: str, field: str, pattern: re.Pattern[str]) -> str:
    """`text` as the record carries it: as is when it fits, else normalized if that fits."""
    if pattern.match(text):
        return text
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise BadFrame(f"{field} {text!r} is not a decimal") from None
    if number.is_finite() and number > 0:
        normal = format(number.normalize(), "f")
        if pattern.match(normal):
            return normal
        raise BadFrame(f"{field} {text!r} has more digits than trades.raw carries ({pattern.pattern})")
    raise BadFrame(f"{field} {text!r} is not a positive decimal")


def base_units(trade: ParsedTrade, instrument: Instrument | None) -> str:
    """The trade's size in base units, as trades.raw text."""
    if instrument is None or instrument.contract_size is None:
        return exact_text(trade.size, "size", _SIZE_RE)
    try:
        contracts, price = Decimal(trade.size), Decimal(trade.price)
    except InvalidOperation:
        raise BadFrame(f"size {trade.size!r} or price {trade.price!r} is not a decimal") from None
    if not (contracts.is_finite() and contracts > 0 and price.is_finite() and price > 0):
        raise BadFrame(f"size {trade.size!r} and price {trade.price!r} must be positive decimals")
    value = _WIDE.multiply(contracts, instrument.contract_size)
    if instrument.inverse:
        value = _WIDE.divide(value, price)
    size = format(value.quantize(_SIZE_QUANTUM, rounding=ROUND_HALF_EVEN, context=_WIDE), "f")
    return exact_text(size, "size", _SIZE_RE)


def trade_record(
    trade: ParsedTrade, exchange: str, market: str, instrument: Instrument | None = None
) -> dict[str, Any]:
    """The trades.raw record of `trade` (BadFrame when a value breaks the record's rules)."""
    if not _TRADE_ID_RE.match(trade.trade_id):
        raise BadFrame(f"trade id {trade.trade_id!r} is not 1-40 of [A-Za-z0-9_-]")
    if trade.side not in ("buy", "sell"):
        raise BadFrame(f"aggressor side {trade.side!r} is not buy or sell")
    return {
        "schema_version": 1,
        "exchange": exchange,
        "market": market,
        "symbol": trade.symbol,
        "trade_id": trade.trade_id,
        "price": exact_text(trade.price, "price", _PRICE_RE),
        "size": base_units(trade, instrument),
        "side": trade.side,
        "event_time": trade.event_time,
        "receive_time_ns": trade.receive_time_ns,
    }
