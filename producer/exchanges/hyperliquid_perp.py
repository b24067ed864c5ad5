"""Hyperliquid perpetuals (`hyperliquid`, market `perp`), and the Hyperliquid protocol its spot
module shares (hyperliquid_spot.py).

Built from Hyperliquid's public API documentation (where a detail is uncertain, docs/producer.md
says so): one WebSocket, `wss://api.hyperliquid.xyz/ws`; a book is subscribed by message,
`{"method": "subscribe", "subscription": {"type": "l2Book", "coin": "BTC"}}` (answered by a
`subscriptionResponse`), and the keep-alive is `{"method": "ping"}` (answered `{"channel":
"pong"}`; the venue closes a connection silent for 60 s). Every `l2Book` message is the whole book
(up to 20 aggregated levels per side), never a delta:

    {"channel": "l2Book", "data": {"coin": "BTC", "time": 1700000000123,
     "levels": [[{"px": "60000.0", "sz": "1.25", "n": 3}, ...], [asks ...]]}}

so there is no chain to keep and no checksum: books are ordered by `time` (ms), which is the
record's event time and sequence id. A snapshot at or before the last one published (the venue
repeating a book, a reconnect's first snapshot of a book we have, an out-of-order message) is
stale and publishes nothing (producer/stream_sync.SnapshotStreamSync); a newer one is a record
whose previous id is the last one's time. Levels must be best first and strictly ordered, sizes
positive: anything else goes to the DLQ with the reason, like any unusable frame.

Instruments: POST `/info` `{"type": "meta"}` -> `universe[]` of `name` (the coin), `szDecimals`,
`isDelisted` (present and true once delisted). Perps are quoted and margined in USDC; sizes are
coins, i.e. base units. The record's symbol is the coin upper-cased (orderbook.raw's symbol rule:
`kPEPE` is `KPEPE`); the stream keeps the venue's own spelling (`Instrument.venue_name`).
REST limits: 1200 weight per minute per IP, `meta`/`spotMeta` weigh 20; the producer asks once at
start, and books need no REST snapshot.
"""

from __future__ import annotations

from typing import Any

import orjson

from producer.book import BadLevel, Columns, parse_columns
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

QUOTE = "USDC"  # the perps' quote and margin
BOOK_LEVELS = 20  # levels per side in an l2Book message


def stream_of(coin: str) -> str:
    """The stream is the coin as the venue names it (renamed from the symbol once it is listed)."""
    return coin


def _subscription(method: str, coin: str, kind: str = "l2Book") -> str:
    return orjson.dumps({"method": method, "subscription": {"type": kind, "coin": coin}}).decode()


def subscribe(streams: list[str]) -> list[str]:
    """A book's stream is its coin; a trade stream is `trades:<coin>` (producer/trades_hyperliquid.py)."""
    return [
        _subscription("subscribe", s[len("trades:") :], "trades")
        if s.startswith("trades:")
        else _subscription("subscribe", s)
        for s in streams
    ]


def resubscribe(stream: str) -> list[str]:
    return [_subscription("unsubscribe", stream), _subscription("subscribe", stream)]


def _side(raw: Any, side: str, descending: bool) -> Columns:
    """[{px, sz, n}, ...] best first -> (prices, sizes) in fixed point, exactly."""
    if type(raw) is not list:
        raise BadFrame(f"{side}: not a list of levels: {type(raw).__name__}")
    try:
        pairs = [[level["px"], level["sz"]] for level in raw]
    except (TypeError, KeyError):
        raise BadFrame(f"{side}: a level is not {{px, sz, n}}") from None
    try:
        prices, sizes = parse_columns(pairs, side)
    except BadLevel as exc:
        raise BadFrame(str(exc)) from None
    if 0 in sizes:
        raise BadFrame(f"{side}: a level of size 0 in a whole book")
    ordered = (
        all(a > b for a, b in zip(prices, prices[1:], strict=False))
        if descending
        else all(a < b for a, b in zip(prices, prices[1:], strict=False))
    )
    if not ordered:
        raise BadFrame(f"{side}: levels not strictly {'descending' if descending else 'ascending'}")
    return prices, sizes


def parse_message(msg: Any, receive_time_ns: int) -> tuple[str, DepthEvent | BookSnapshot] | None:
    """An l2Book message -> (coin, the whole book at its time); None for the answers to our
    subscriptions and pings; BadFrame for anything else, the venue's `error` channel included."""
    if type(msg) is not dict:
        raise BadFrame("not a JSON object")
    channel = msg.get("channel")
    if channel == "pong" or channel == "subscriptionResponse":
        return None
    if channel == "error":
        raise BadFrame(f"venue error: {msg.get('data')!r}")
    if channel != "l2Book":
        raise BadFrame(f"not an l2Book message: channel={channel!r}")
    data = msg.get("data")
    if type(data) is not dict:
        raise BadFrame("field 'data' is not an object")
    coin = data.get("coin")
    if type(coin) is not str or not coin:
        raise BadFrame(f"field 'coin' is not a name: {coin!r}")
    time_ms = data.get("time")
    if type(time_ms) is not int or not 0 <= time_ms < ID_LIMIT:
        raise BadFrame(f"field 'time' is not a non-negative integer: {time_ms!r}")
    levels = data.get("levels")
    if type(levels) is not list or len(levels) != 2:
        raise BadFrame("field 'levels' is not [bids, asks]")
    bids = _side(levels[0], "bids", descending=True)
    asks = _side(levels[1], "asks", descending=False)
    return coin, BookSnapshot(time_ms, bids, asks, time_ms, None, coin, receive_time_ns)


def perp_instruments(body: Any) -> dict[str, Instrument]:
    """`meta`: universe[] of name (the coin), isDelisted; keyed by the record's symbol."""
    if type(body) is not dict or type(body.get("universe")) is not list:
        raise BadFrame("not a meta answer: no 'universe' list")
    out = {}
    for item in body["universe"]:
        coin = str(item["name"])
        delisted = item.get("isDelisted") is True
        out[coin.upper()] = Instrument(
            symbol=coin.upper(),
            status="delisted" if delisted else "listed",
            trading=not delisted,
            base=coin,
            quote=QUOTE,
            kind="perp",
            venue_name=coin,
        )
    return out


def book_engine() -> type:
    """Whole books ordered by time; sizes in base units."""
    from producer.stream_sync import SnapshotStreamSync  # engines import the exchange modules

    return SnapshotStreamSync


def hyperliquid_spec(exchange_id: str, market: str, info_type: str, parse: Any) -> ExchangeSpec:
    """The Hyperliquid venue of one market: `info_type` is the /info listing (meta, spotMeta)."""
    return ExchangeSpec(
        id=exchange_id,
        market=market,
        ws_url="wss://api.hyperliquid.xyz",
        rest_url="https://api.hyperliquid.xyz",
        depth_path="/info",
        exchange_info_path="/info",
        exchange_info_body=orjson.dumps({"type": info_type}),
        continuity=Continuity.PREV_FINAL_ID,
        # 1000 subscriptions per IP in all; one connection carries them (10 connections per IP).
        max_streams_per_connection=1000,
        max_connection_age_s=24 * 3600,
        weight_limit_1m=1200,
        snapshot_limit=BOOK_LEVELS,
        partial_depths=(),
        diff_channel=stream_of,
        partial_channel=lambda symbol, depth: symbol,
        snapshot_weight=lambda limit: 2,
        parse_diff=no_diff_frame,
        parse_partial=no_partial,
        parse_snapshot=no_rest_snapshot,
        parse_instruments=parse,
        needs_instruments=True,
        book_engine=book_engine,
        snapshot_in_stream=True,
        url_for=lambda base, streams: f"{base.rstrip('/')}/ws",
        subscribe=subscribe,
        resubscribe=resubscribe,
        ping=('{"method":"ping"}', 20.0, None),
        parse_message=parse_message,
        native_protocol="hyperliquid",
    )


EXCHANGE = hyperliquid_spec("hyperliquid", "perp", "meta", perp_instruments)
