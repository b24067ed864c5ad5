"""Binance spot: combined streams on stream.binance.com, REST on api.binance.com.

Diff-depth procedure (Binance's "How to manage a local order book correctly"): buffer
`<symbol>@depth@100ms` events, fetch `/api/v3/depth?limit=1000`, drop events with u <= lastUpdateId,
the first applied event has U <= lastUpdateId+1 <= u, and each next one has U == previous u + 1.
Partial-depth frames (`@depth{5,10,20}@100ms`) are whole books without symbol or event time.
"""

from __future__ import annotations

from typing import Any

from producer.book import BadLevel, parse_columns, parse_levels
from producer.exchanges.spec import (
    BadFrame,
    BookSnapshot,
    Continuity,
    DepthEvent,
    ExchangeSpec,
    require_field,
    require_int,
)


def snapshot_weight(limit: int) -> int:
    """Request weight of GET /api/v3/depth by limit (Binance spot, 2023 onwards)."""
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


def parse_diff(data: dict[str, Any], receive_time_ns: int) -> DepthEvent:
    """A `depthUpdate` event -> DepthEvent with (prices, sizes) columns. The fast path checks every
    field at once; anything it does not like goes to `_parse_diff_checked`, which finds the reason."""
    try:
        if data["e"] == "depthUpdate":
            symbol, first_id, final_id, event_time = data["s"], data["U"], data["u"], data["E"]
            if (
                type(symbol) is str
                and type(first_id) is int
                and type(final_id) is int
                and type(event_time) is int
                and 0 <= first_id <= final_id
                and event_time >= 0
            ):
                return DepthEvent(
                    symbol,
                    first_id,
                    final_id,
                    None,
                    event_time,
                    None,
                    parse_columns(data["b"], "b"),
                    parse_columns(data["a"], "a"),
                    receive_time_ns,
                )
    except KeyError:
        pass
    except BadLevel as exc:
        raise BadFrame(str(exc)) from None
    return _parse_diff_checked(data, receive_time_ns)


def _parse_diff_checked(data: dict[str, Any], receive_time_ns: int) -> DepthEvent:
    """Field by field, raising BadFrame with the first problem found."""
    if data.get("e") != "depthUpdate":
        raise BadFrame(f"not a depthUpdate event: e={data.get('e')!r}")
    symbol = require_field(data, "s")
    if type(symbol) is not str:
        raise BadFrame(f"field 's' is not a string: {symbol!r}")
    first_id = require_int(data, "U")
    final_id = require_int(data, "u")
    if first_id > final_id:
        raise BadFrame(f"U {first_id} > u {final_id}")
    try:
        bids = parse_columns(require_field(data, "b"), "b")
        asks = parse_columns(require_field(data, "a"), "a")
    except BadLevel as exc:
        raise BadFrame(str(exc)) from None
    return DepthEvent(
        symbol, first_id, final_id, None, require_int(data, "E"), None, bids, asks, receive_time_ns
    )


def parse_partial(data: dict[str, Any], receive_time_ns: int, symbol: str) -> BookSnapshot:
    snap = parse_snapshot(data)
    snap.symbol = symbol
    snap.receive_time_ns = receive_time_ns
    return snap


def parse_snapshot(data: dict[str, Any]) -> BookSnapshot:
    last = require_int(data, "lastUpdateId")
    try:
        bids = parse_levels(require_field(data, "bids"), "bids")
        asks = parse_levels(require_field(data, "asks"), "asks")
    except BadLevel as exc:
        raise BadFrame(str(exc)) from None
    return BookSnapshot(last, bids, asks)


EXCHANGE = ExchangeSpec(
    id="binance",
    market="spot",
    ws_url="wss://stream.binance.com:9443",
    rest_url="https://api.binance.com",
    depth_path="/api/v3/depth",
    exchange_info_path="/api/v3/exchangeInfo",
    continuity=Continuity.FIRST_ID,
    max_streams_per_connection=1024,
    max_connection_age_s=24 * 3600 - 15 * 60,
    weight_limit_1m=6000,
    snapshot_limit=1000,
    partial_depths=(5, 10, 20),
    diff_channel=lambda symbol: f"{symbol.lower()}@depth@100ms",
    partial_channel=lambda symbol, depth: f"{symbol.lower()}@depth{depth}@100ms",
    snapshot_weight=snapshot_weight,
    parse_diff=parse_diff,
    parse_partial=parse_partial,
    parse_snapshot=parse_snapshot,
)
