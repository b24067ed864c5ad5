"""Binance USD-M futures: combined streams on fstream.binance.com, REST on fapi.binance.com.

Futures chain events by `pu` (the previous event's u): after the snapshot, drop events with
u < lastUpdateId, the first applied one has U <= lastUpdateId <= u, and every next one has
pu == previous u. Events also carry the matching engine time T. Partial-depth frames have the
same shape as diff events (with U/u/pu) but hold the whole top N.
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
    """Request weight of GET /fapi/v1/depth by limit."""
    if limit <= 50:
        return 2
    if limit <= 100:
        return 5
    if limit <= 500:
        return 10
    return 20


def parse_diff(data: dict[str, Any], receive_time_ns: int) -> DepthEvent:
    """A `depthUpdate` event -> DepthEvent with (prices, sizes) columns. The fast path checks every
    field at once; anything it does not like goes to `_parse_diff_checked`, which finds the reason."""
    try:
        if data["e"] == "depthUpdate":
            symbol, first_id, final_id, prev_id = data["s"], data["U"], data["u"], data["pu"]
            event_time, transaction_time = data["E"], data["T"]
            if (
                type(symbol) is str
                and type(first_id) is int
                and type(final_id) is int
                and type(prev_id) is int
                and type(event_time) is int
                and type(transaction_time) is int
                and 0 <= first_id <= final_id
                and prev_id >= 0
                and event_time >= 0
                and transaction_time >= 0
            ):
                return DepthEvent(
                    symbol,
                    first_id,
                    final_id,
                    prev_id,
                    event_time,
                    transaction_time,
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
        symbol,
        first_id,
        final_id,
        require_int(data, "pu"),
        require_int(data, "E"),
        require_int(data, "T"),
        bids,
        asks,
        receive_time_ns,
    )


def parse_partial(data: dict[str, Any], receive_time_ns: int, symbol: str) -> BookSnapshot:
    event = parse_diff(data, receive_time_ns)
    return BookSnapshot(
        event.final_id,
        event.bids,
        event.asks,
        event.event_time,
        event.transaction_time,
        event.symbol,
        receive_time_ns,
    )


def parse_snapshot(data: dict[str, Any]) -> BookSnapshot:
    last = require_int(data, "lastUpdateId")
    try:
        bids = parse_levels(require_field(data, "bids"), "bids")
        asks = parse_levels(require_field(data, "asks"), "asks")
    except BadLevel as exc:
        raise BadFrame(str(exc)) from None
    return BookSnapshot(last, bids, asks, data.get("E"), data.get("T"))


EXCHANGE = ExchangeSpec(
    id="binance_usdm",
    market="usdm",
    ws_url="wss://fstream.binance.com",
    rest_url="https://fapi.binance.com",
    depth_path="/fapi/v1/depth",
    exchange_info_path="/fapi/v1/exchangeInfo",
    continuity=Continuity.PREV_FINAL_ID,
    max_streams_per_connection=1024,
    max_connection_age_s=24 * 3600 - 15 * 60,
    weight_limit_1m=2400,
    snapshot_limit=1000,
    partial_depths=(5, 10, 20),
    diff_channel=lambda symbol: f"{symbol.lower()}@depth@100ms",
    partial_channel=lambda symbol, depth: f"{symbol.lower()}@depth{depth}@100ms",
    snapshot_weight=snapshot_weight,
    parse_diff=parse_diff,
    parse_partial=parse_partial,
    parse_snapshot=parse_snapshot,
)
