"""Gate.io (API v4) spot, and the Gate.io protocol its USDT futures module shares.

Built from Gate.io's public v4 documentation ("How to maintain local order book"): one connection
to `wss://api.gateio.ws/ws/v4/`, channels subscribed by message (`{"time": <s>, "channel":
"spot.order_book_update", "event": "subscribe", "payload": ["BTC_USDT", "100ms"]}`, one pair per
request), every request carrying its send time in seconds (Gate.io refuses one more than 60 s
off, so subscriptions and pings are made afresh at each connect and each ping). The keep-alive is
`{"time": <s>, "channel": "spot.ping"}`, answered by a `spot.pong` message (the server also uses
WebSocket pings, which aiohttp answers). Notifications: `{"channel": "spot.order_book_update",
"event": "update", "result": {"t": ms, "s": pair, "U": first id, "u": last id, "b": [[price,
size]], "a": [...]}}`; sizes are absolute, "0" removes the level.

The procedure is Binance spot's (Continuity.FIRST_ID, producer/engine.py): buffer the updates,
GET `/api/v4/spot/order_book?currency_pair=..&limit=100&with_id=true` (its `id` is the book's
update id), drop updates with u < id + 1, the first applied one has U <= id + 1 <= u, then each
next one U == previous u + 1; an update with U > the book's id + 1 is a gap: that book alone
is fetched again. As for Binance, an update whose range overlaps the book (U <= id < u) is
applied: its sizes are absolute, so the book lands exactly at u.

Instruments: `/api/v4/spot/currency_pairs` (`id`, `base`, `quote`, `trade_status` tradable);
spot sizes are base units. REST limits (uncertain, Gate.io documents 200 requests per 10 s per
endpoint for public market data): 1200 per minute, the limiter keeps 80% of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from producer.book import BadLevel, Columns, parse_columns
from producer.exchanges.spec import (
    BadFrame,
    BookSnapshot,
    Continuity,
    DepthEvent,
    ExchangeSpec,
    Instrument,
    require_field,
    require_int,
)

INTERVAL = "100ms"
SNAPSHOT_LIMIT = 100

# One side of a frame -> exact columns (spot: [[price, size]], futures: [{"p": .., "s": ..}]).
SideParser = Callable[[Any, str], Columns]


def channel_of(prefix: str) -> str:
    return f"{prefix}.order_book_update"


def stream_of(prefix: str, symbol: str) -> str:
    """Our name of a book's stream: `spot.order_book_update:BTC_USDT`."""
    return f"{channel_of(prefix)}:{symbol}"


def subscriber(prefix: str, payload_tail: list[str]) -> Callable[[list[str]], list[str]]:
    """The subscribe requests of some streams (`channel:pair`), one per stream, timed now; the
    book's channel takes `payload_tail` after the pair (trade channels: the pair alone)."""
    book = channel_of(prefix)

    def subscribe(streams: list[str]) -> list[str]:
        now = int(time.time())
        requests = []
        for stream in streams:
            channel, _, pair = stream.partition(":")
            payload = [pair, *payload_tail] if channel == book else [pair]
            requests.append(
                orjson.dumps(
                    {"time": now, "channel": channel, "event": "subscribe", "payload": payload}
                ).decode()
            )
        return requests

    return subscribe


def pinger(prefix: str) -> Callable[[], str]:
    channel = f"{prefix}.ping"
    return lambda: orjson.dumps({"time": int(time.time()), "channel": channel}).decode()


def spot_side(raw: Any, key: str) -> Columns:
    try:
        return parse_columns(raw, key)
    except BadLevel as exc:
        raise BadFrame(str(exc)) from None


def diff_parser(side: SideParser) -> Callable[[Any, int], DepthEvent]:
    """A notification's `result` -> DepthEvent. Every field is checked; the levels are all parsed
    before any is used (a bad one rejects the frame)."""

    def parse_diff(result: Any, receive_time_ns: int) -> DepthEvent:
        if type(result) is not dict:
            raise BadFrame("field 'result' is not an object")
        symbol = require_field(result, "s")
        if type(symbol) is not str:
            raise BadFrame(f"field 's' is not a string: {symbol!r}")
        first_id = require_int(result, "U")
        final_id = require_int(result, "u")
        if first_id > final_id:
            raise BadFrame(f"U {first_id} > u {final_id}")
        event_time = require_int(result, "t")
        bids = side(require_field(result, "b"), "b")
        asks = side(require_field(result, "a"), "a")
        return DepthEvent(symbol, first_id, final_id, None, event_time, None, bids, asks, receive_time_ns)

    return parse_diff


def message_parser(
    prefix: str, side: SideParser, parse_diff: Callable[[Any, int], DepthEvent]
) -> Callable[[Any, int], tuple[str, DepthEvent] | None]:
    channel, pong = channel_of(prefix), f"{prefix}.pong"
    streams: dict[str, str] = {}  # symbol -> stream name, made once

    def parse_message(msg: Any, receive_time_ns: int) -> tuple[str, DepthEvent] | None:
        """An `order_book_update` notification -> (stream, update). The fast path checks every
        field of an update at once; anything it does not like goes to `_checked`, which finds
        the reason."""
        try:
            if msg["channel"] == channel and msg["event"] == "update" and msg.get("error") is None:
                result = msg["result"]
                symbol, first_id, final_id, event_time = result["s"], result["U"], result["u"], result["t"]
                if (
                    type(symbol) is str
                    and type(first_id) is int
                    and type(final_id) is int
                    and type(event_time) is int
                    and 0 <= first_id <= final_id
                    and event_time >= 0
                ):
                    stream = streams.get(symbol) or streams.setdefault(symbol, f"{channel}:{symbol}")
                    bids, asks = side(result["b"], "b"), side(result["a"], "a")
                    ev = DepthEvent(
                        symbol, first_id, final_id, None, event_time, None, bids, asks, receive_time_ns
                    )
                    return stream, ev
        except (KeyError, TypeError, AttributeError):
            pass
        return _checked(msg, receive_time_ns)

    def _checked(msg: Any, receive_time_ns: int) -> tuple[str, DepthEvent] | None:
        """None for the answers to our requests (subscribe, unsubscribe, pong); BadFrame for
        anything else that is not an update, a venue error (`error` set, e.g. a refused
        subscription) included."""
        if type(msg) is not dict:
            raise BadFrame("not a JSON object")
        error = msg.get("error")
        if error is not None:
            detail = f"{error.get('code')}: {error.get('message')}" if type(error) is dict else repr(error)
            raise BadFrame(f"venue error on {msg.get('channel')!r} {msg.get('event')!r}: {detail}")
        name, event = msg.get("channel"), msg.get("event")
        if name == pong or (name == channel and event in ("subscribe", "unsubscribe")):
            return None
        if name != channel or event != "update":
            raise BadFrame(f"not a {channel} update: channel={name!r} event={event!r}")
        ev = parse_diff(msg.get("result"), receive_time_ns)
        return f"{channel}:{ev.symbol}", ev

    return parse_message


def snapshot_parser(side: SideParser) -> Callable[[dict[str, Any]], BookSnapshot]:
    def parse_snapshot(data: dict[str, Any]) -> BookSnapshot:
        """GET order_book with `with_id=true`: `id` is the book's update id."""
        last = require_int(data, "id")
        return BookSnapshot(
            last, side(require_field(data, "bids"), "bids"), side(require_field(data, "asks"), "asks")
        )

    return parse_snapshot


def parse_instruments(body: Any) -> dict[str, Instrument]:
    """`/api/v4/spot/currency_pairs`: a list of {id, base, quote, trade_status}."""
    if type(body) is not list:
        raise BadFrame("not a list of currency pairs")
    out = {}
    for item in body:
        status = str(item.get("trade_status", ""))
        out[item["id"]] = Instrument(
            symbol=item["id"],
            status=status,
            trading=status == "tradable",
            base=str(item.get("base", "")),
            quote=str(item.get("quote", "")),
            kind="spot",
        )
    return out


def no_partial(data: dict[str, Any], receive_time_ns: int, symbol: str) -> BookSnapshot:
    raise BadFrame("Gate.io books are kept from order_book_update here, not from a partial-depth stream")


def book_engine() -> type:
    """The Python engine over a book that publishes base units (futures count contracts)."""
    from producer.contract_sync import ContractBookSync  # engines import the exchange modules

    return ContractBookSync


def gateio_spec(
    exchange_id: str,
    market: str,
    prefix: str,
    *,
    ws_url: str,
    ws_path: str,
    depth_path: str,
    exchange_info_path: str,
    side: SideParser,
    symbol_param: str,
    payload_tail: list[str],
    parse_instruments: Callable[[Any], dict[str, Instrument]],
    unknown_symbol_error: bytes,
) -> ExchangeSpec:
    """The Gate.io venue of one market (spot, USDT futures)."""
    parse_diff = diff_parser(side)
    return ExchangeSpec(
        id=exchange_id,
        market=market,
        ws_url=ws_url,
        rest_url="https://api.gateio.ws",
        depth_path=depth_path,
        exchange_info_path=exchange_info_path,
        continuity=Continuity.FIRST_ID,
        max_streams_per_connection=100,  # our choice: Gate.io documents no limit
        max_connection_age_s=24 * 3600,
        weight_limit_1m=1200,
        snapshot_limit=SNAPSHOT_LIMIT,
        partial_depths=(),
        diff_channel=lambda symbol: stream_of(prefix, symbol),
        partial_channel=lambda symbol, depth: f"{prefix}.order_book:{symbol}",
        snapshot_weight=lambda limit: 1,
        parse_diff=parse_diff,
        parse_partial=no_partial,
        parse_snapshot=snapshot_parser(side),
        parse_instruments=parse_instruments,
        needs_instruments=True,
        book_engine=book_engine,
        snapshot_params=lambda symbol, limit: {symbol_param: symbol, "limit": str(limit), "with_id": "true"},
        unknown_symbol_error=unknown_symbol_error,
        url_for=lambda base, streams: f"{base.rstrip('/')}{ws_path}",
        subscribe=subscriber(prefix, payload_tail),
        ping=(pinger(prefix), 20.0, None),
        parse_message=message_parser(prefix, side, parse_diff),
    )


EXCHANGE = gateio_spec(
    "gateio",
    "spot",
    "spot",
    ws_url="wss://api.gateio.ws",
    ws_path="/ws/v4/",
    depth_path="/api/v4/spot/order_book",
    exchange_info_path="/api/v4/spot/currency_pairs",
    side=spot_side,
    symbol_param="currency_pair",
    payload_tail=[INTERVAL],
    parse_instruments=parse_instruments,
    unknown_symbol_error=b"INVALID_CURRENCY_PAIR",
)
