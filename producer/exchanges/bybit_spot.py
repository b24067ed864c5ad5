"""Bybit v5 spot (public WebSocket), and the Bybit protocol its linear and inverse modules share.

Built from Bybit's public v5 documentation: one connection per category to
`/v5/public/{spot,linear,inverse}`, topics subscribed by message (`{"op": "subscribe", "args":
["orderbook.50.BTCUSDT"]}`, at most 10 topics per request on spot, so requests carry 10), the
keep-alive is `{"op": "ping"}` every 20 s (answered by a JSON message with `op`). `orderbook.50`
sends `type: "snapshot"` after a subscription, then `"delta"`s (every 20 ms when the book
changes); size "0" removes a level. `data.u` is the update id, continuous per topic ("generally
continuous" in Bybit's words): a delta applies when its u is the book's u + 1; `u == 1` is a
fresh snapshot after a restart of Bybit's service (it replaces the book, whatever its id); a
snapshot that repeats the book we have publishes nothing; `seq` (the cross sequence) is not a
per-book chain and is not used. `ts` is the record's event time, `cts` (matching engine) its
transaction time. No checksum. Resync rule: a delta whose u does not follow -> unsubscribe and
subscribe that topic again (Bybit then sends a snapshot).

Instruments: `/v5/market/instruments-info?category=spot&limit=1000` (`symbol`, `status`
Trading, `baseCoin`, `quoteCoin`); the first page only (enough for the simulator and for the
symbols of one producer; a venue-wide check would follow `nextPageCursor`). Spot and linear
sizes are base units; inverse sizes are contracts of 1 USD (bybit_inverse.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson

from producer.book import BadLevel, parse_columns
from producer.exchanges.okx_spot import no_diff_frame, no_partial, no_rest_snapshot
from producer.exchanges.spec import (
    ID_LIMIT,
    BadFrame,
    BookSnapshot,
    Continuity,
    DepthEvent,
    ExchangeSpec,
    Instrument,
)

DEPTH = 50
ARGS_PER_REQUEST = 10


def stream_of(symbol: str) -> str:
    return f"orderbook.{DEPTH}.{symbol}"


def subscribe(streams: list[str]) -> list[str]:
    return [
        orjson.dumps({"op": "subscribe", "args": streams[i : i + ARGS_PER_REQUEST]}).decode()
        for i in range(0, len(streams), ARGS_PER_REQUEST)
    ]


def resubscribe(stream: str) -> list[str]:
    return [
        orjson.dumps({"op": "unsubscribe", "args": [stream]}).decode(),
        orjson.dumps({"op": "subscribe", "args": [stream]}).decode(),
    ]


def _int(data: dict[str, Any], key: str, minimum: int = 0) -> int:
    value = data.get(key)
    if type(value) is not int or not minimum <= value < ID_LIMIT:
        raise BadFrame(f"field {key!r} is not an integer >= {minimum}: {value!r}")
    return value


def parse_message(msg: Any, receive_time_ns: int) -> tuple[str, DepthEvent | BookSnapshot] | None:
    """An orderbook push -> (topic, snapshot or delta); None for answers to our ops (subscribe,
    ping); BadFrame for anything else, a refused subscription included."""
    if type(msg) is not dict:
        raise BadFrame("not a JSON object")
    if "op" in msg:
        if msg.get("success") is False:
            raise BadFrame(f"venue refused {msg.get('op')}: {msg.get('ret_msg')}")
        return None
    topic, kind, data = msg.get("topic"), msg.get("type"), msg.get("data")
    if type(topic) is not str or not topic.startswith("orderbook."):
        raise BadFrame(f"not an orderbook push: topic={topic!r}")
    if type(data) is not dict:
        raise BadFrame("field 'data' is not an object")
    symbol = data.get("s")
    if type(symbol) is not str:
        raise BadFrame(f"field 's' is not a string: {symbol!r}")
    update_id = _int(data, "u", 1)
    event_time = _int(msg, "ts")
    engine_time = msg.get("cts")
    if engine_time is not None and (type(engine_time) is not int or not 0 <= engine_time < ID_LIMIT):
        raise BadFrame(f"field 'cts' is not a non-negative integer: {engine_time!r}")
    try:
        bids = parse_columns(data.get("b"), "b")
        asks = parse_columns(data.get("a"), "a")
    except BadLevel as exc:
        raise BadFrame(str(exc)) from None
    if kind == "snapshot" or update_id == 1:
        snap = BookSnapshot(update_id, bids, asks, event_time, engine_time, symbol, receive_time_ns)
        snap.reset = update_id == 1
        return topic, snap
    if kind == "delta":
        return topic, DepthEvent(
            symbol, update_id, update_id, update_id - 1, event_time, engine_time, bids, asks, receive_time_ns
        )
    raise BadFrame(f"unknown type {kind!r}")


def parse_instruments(body: Any) -> dict[str, Instrument]:
    """`/v5/market/instruments-info`: result.category and result.list[] of symbol, status,
    baseCoin, quoteCoin, contractType (futures). Inverse contracts are worth 1 USD."""
    if type(body) is not dict or body.get("retCode") != 0 or type(body.get("result")) is not dict:
        raise BadFrame(
            f"not an instruments answer: retCode={body.get('retCode') if type(body) is dict else None!r}"
        )
    category = body["result"].get("category")
    out = {}
    for item in body["result"]["list"]:
        status = str(item.get("status", ""))
        contract = str(item.get("contractType", ""))
        out[item["symbol"]] = Instrument(
            symbol=item["symbol"],
            status=status,
            trading=status == "Trading",
            base=str(item.get("baseCoin", "")),
            quote=str(item.get("quoteCoin", "")),
            kind="spot" if category == "spot" else "perp" if contract.endswith("Perpetual") else "future",
            contract_size=Decimal(1) if category == "inverse" else None,
            inverse=category == "inverse",
        )
    return out


def book_engine() -> type:
    """Snapshot in the stream, u chain; sizes in base units."""
    from producer.stream_sync import StreamBookSync  # engines import the exchange modules

    return StreamBookSync


def bybit_spec(exchange_id: str, category: str) -> ExchangeSpec:
    """The Bybit v5 venue of one category (spot, linear, inverse); `market` is the category."""
    return ExchangeSpec(
        id=exchange_id,
        market=category,
        ws_url="wss://stream.bybit.com",
        rest_url="https://api.bybit.com",
        depth_path="/v5/market/orderbook",
        exchange_info_path=f"/v5/market/instruments-info?category={category}&limit=1000",
        continuity=Continuity.PREV_FINAL_ID,
        max_streams_per_connection=100,
        max_connection_age_s=24 * 3600,
        weight_limit_1m=600,  # well under Bybit's 600 requests per 5 s per IP
        snapshot_limit=DEPTH,
        partial_depths=(),
        diff_channel=stream_of,
        partial_channel=lambda symbol, depth: f"orderbook.{depth}.{symbol}",
        snapshot_weight=lambda limit: 1,
        parse_diff=no_diff_frame,
        parse_partial=no_partial,
        parse_snapshot=no_rest_snapshot,
        parse_instruments=parse_instruments,
        needs_instruments=True,
        book_engine=book_engine,
        snapshot_in_stream=True,
        url_for=lambda base, streams: f"{base.rstrip('/')}/v5/public/{category}",
        subscribe=subscribe,
        resubscribe=resubscribe,
        ping=('{"op":"ping"}', 20.0, None),
        parse_message=parse_message,
        native_protocol="bybit",
    )


EXCHANGE = bybit_spec("bybit", "spot")
