"""OKX spot (v5 public WebSocket), and the OKX protocol its swap module shares.

Built from OKX's public API documentation (v5): one connection to `/ws/v5/public`, channels
subscribed by message (`{"op": "subscribe", "args": [{"channel": "books", "instId": ...}]}`),
the venue's keep-alive is the text "ping" answered by "pong" (it closes a connection silent for
30 s). The `books` channel (400 levels) sends `action: "snapshot"` after a subscription, then
`"update"`s; each names its `seqId` and the `prevSeqId` it follows (-1 on a snapshot; an update
with seqId == prevSeqId changes nothing); sizes of 0 remove a level; levels are
[price, size, "0", orders] strings. `checksum` is the CRC32 of the top 25 levels per side,
interleaved bid, ask, bid, ask... (a side that runs out is skipped), as "price:size" strings
joined by ":", taken as a signed 32-bit integer, over the venue's own strings. OKX announced
that the field is deprecated from June 2026 and then always 0: a checksum of 0 is not checked
(the chain still is). Resync rule: a broken chain or a checksum mismatch -> unsubscribe and
subscribe that book's channel again (the venue sends a new snapshot).

Instruments: `/api/v5/public/instruments?instType=SPOT` (`instId`, `state` live, `baseCcy`,
`quoteCcy`); spot sizes are base units. REST limit: 20 requests per 2 s per IP on the public
instruments endpoint (the only REST call the producer makes here).

Uncertain, said so in docs/producer.md: prices or sizes with more than 8 decimals are refused
by the exact book (fixed point 10^-8); some OKX instruments quote finer than that.
"""

from __future__ import annotations

import zlib
from decimal import Decimal
from itertools import chain
from typing import Any

import orjson

from producer.book import BadLevel, Columns, parse_columns
from producer.exchanges.spec import (
    ID_LIMIT,
    BadFrame,
    BookSnapshot,
    Continuity,
    DepthEvent,
    ExchangeSpec,
    Instrument,
    decimal_field,
)

CHANNEL = "books"
CHECKSUM_DEPTH = 25


def stream_of(symbol: str) -> str:
    """Our name of an instrument's book stream: `books:BTC-USDT`."""
    return f"{CHANNEL}:{symbol}"


def _arg(stream: str) -> dict[str, str]:
    channel, _, inst = stream.partition(":")
    return {"channel": channel, "instId": inst}


def subscribe(streams: list[str]) -> list[str]:
    return [orjson.dumps({"op": "subscribe", "args": [_arg(s) for s in streams]}).decode()]


def resubscribe(stream: str) -> list[str]:
    args = [_arg(stream)]
    return [
        orjson.dumps({"op": "unsubscribe", "args": args}).decode(),
        orjson.dumps({"op": "subscribe", "args": args}).decode(),
    ]


def checksum(bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> int:
    """OKX's book checksum over (price, size) strings, best first, at most 25 per side."""
    n = min(len(bids), len(asks))
    # bid 1, ask 1, bid 2, ask 2, ... then what is left of the longer side (flattened in C)
    parts = list(chain.from_iterable(chain.from_iterable(zip(bids, asks, strict=False))))
    parts += chain.from_iterable(bids[n:] if len(bids) > n else asks[n:])
    crc = zlib.crc32(":".join(parts).encode())
    return crc - (1 << 32) if crc & 0x80000000 else crc


def _side(item: dict[str, Any], key: str) -> tuple[Columns, list[list[str]]]:
    """[[price, size, ...], ...] -> exact columns and the (price, size) strings."""
    raw = item.get(key)
    if type(raw) is not list:
        raise BadFrame(f"field {key!r} is not a list of levels")
    pairs = []
    for level in raw:
        if type(level) is not list or len(level) < 2:
            raise BadFrame(f"{key}: level is not [price, size, ...]: {level!r}")
        pairs.append(level[:2])
    try:
        return parse_columns(pairs, key), pairs
    except BadLevel as exc:
        raise BadFrame(str(exc)) from None


def _int(item: dict[str, Any], key: str, minimum: int = 0) -> int:
    """An integer field, or its ASCII digits as a string (OKX writes `ts` so), below ID_LIMIT."""
    value = item.get(key)
    if type(value) is str and value.isascii() and value.isdigit():
        value = int(value)
    if type(value) is not int or not minimum <= value < ID_LIMIT:
        raise BadFrame(f"field {key!r} is not an integer >= {minimum}: {value!r}")
    return value


def parse_message(msg: Any, receive_time_ns: int) -> tuple[str, DepthEvent | BookSnapshot] | None:
    """A `books` push -> (stream, snapshot or update); None for subscription answers and notices;
    BadFrame (to the DLQ) for anything else, errors of the venue included."""
    if type(msg) is not dict:
        raise BadFrame("not a JSON object")
    event = msg.get("event")
    if event is not None:
        if event == "error":
            raise BadFrame(f"venue error {msg.get('code')}: {msg.get('msg')}")
        return None  # subscribe, unsubscribe, notice
    arg = msg.get("arg")
    if type(arg) is not dict or type(arg.get("instId")) is not str or arg.get("channel") != CHANNEL:
        raise BadFrame(f"not a {CHANNEL} push: arg={arg!r}")
    symbol: str = arg["instId"]
    data = msg.get("data")
    if type(data) is not list or len(data) != 1 or type(data[0]) is not dict:
        raise BadFrame("field 'data' is not a list of one object")
    item = data[0]
    seq = _int(item, "seqId")
    event_time = _int(item, "ts")
    sent = item.get("checksum")
    if sent is not None and type(sent) is not int:
        raise BadFrame(f"field 'checksum' is not an integer: {sent!r}")
    bids, bid_texts = _side(item, "bids")
    asks, ask_texts = _side(item, "asks")
    action = msg.get("action")
    stream = stream_of(symbol)
    if action == "snapshot":
        snap = BookSnapshot(seq, bids, asks, event_time, None, symbol, receive_time_ns)
        snap.checksum, snap.texts = sent, (bid_texts, ask_texts)
        return stream, snap
    if action == "update":
        prev = _int(item, "prevSeqId")
        return stream, DepthEvent(
            symbol,
            seq,
            seq,
            prev,
            event_time,
            None,
            bids,
            asks,
            receive_time_ns,
            sent,
            (bid_texts, ask_texts),
        )
    raise BadFrame(f"unknown action {action!r}")


def parse_instruments(body: Any) -> dict[str, Instrument]:
    """`/api/v5/public/instruments`: spot lists baseCcy/quoteCcy; swaps and futures list ctVal
    in ctValCcy (the base currency: linear; the quote currency, USD: inverse) and instFamily
    (BASE-QUOTE)."""
    if type(body) is not dict or body.get("code") != "0" or type(body.get("data")) is not list:
        raise BadFrame(
            f"not an instruments answer: code={body.get('code') if type(body) is dict else None!r}"
        )
    out = {}
    for item in body["data"]:
        inst_type = item.get("instType")
        state = str(item.get("state", ""))
        size: Decimal | None = None
        if inst_type == "SPOT":
            base, quote, size, inverse = item.get("baseCcy", ""), item.get("quoteCcy", ""), None, False
        else:
            base, _, quote = str(item.get("instFamily") or item.get("uly") or "").partition("-")
            size = decimal_field(item, "ctVal")
            inverse = item.get("ctValCcy") != base
        out[item["instId"]] = Instrument(
            symbol=item["instId"],
            status=state,
            trading=state == "live",
            base=str(base),
            quote=str(quote),
            kind={"SPOT": "spot", "SWAP": "perp"}.get(str(inst_type), "future"),
            contract_size=size,
            inverse=inverse,
        )
    return out


def no_partial(data: dict[str, Any], receive_time_ns: int, symbol: str) -> BookSnapshot:
    raise BadFrame("OKX books have no partial-depth stream here")


def no_rest_snapshot(data: dict[str, Any]) -> BookSnapshot:
    raise BadFrame("OKX books are snapshotted in the stream, not by REST")


def no_diff_frame(data: dict[str, Any], receive_time_ns: int) -> DepthEvent:
    raise BadFrame("OKX frames are read by parse_message")


def book_engine() -> type:
    """Snapshot in the stream, seqId chain, checksum; sizes in base units (the Python engine: its
    compiled twin, StreamBookSync.compiled, runs where it is built)."""
    from producer.stream_sync import StreamBookSync  # engines import the exchange modules

    return StreamBookSync


def okx_spec(exchange_id: str, market: str, inst_type: str) -> ExchangeSpec:
    """The OKX venue for one instrument type (SPOT, SWAP)."""
    return ExchangeSpec(
        id=exchange_id,
        market=market,
        ws_url="wss://ws.okx.com:8443",
        rest_url="https://www.okx.com",
        depth_path="/api/v5/market/books",
        exchange_info_path=f"/api/v5/public/instruments?instType={inst_type}",
        continuity=Continuity.PREV_FINAL_ID,
        max_streams_per_connection=100,
        max_connection_age_s=24 * 3600,
        weight_limit_1m=600,  # 20 requests / 2 s
        snapshot_limit=400,
        partial_depths=(),
        diff_channel=stream_of,
        partial_channel=lambda symbol, depth: f"books{depth}:{symbol}",
        snapshot_weight=lambda limit: 1,
        parse_diff=no_diff_frame,
        parse_partial=no_partial,
        parse_snapshot=no_rest_snapshot,
        parse_instruments=parse_instruments,
        needs_instruments=True,
        book_engine=book_engine,
        snapshot_in_stream=True,
        url_for=lambda base, streams: f"{base.rstrip('/')}/ws/v5/public",
        subscribe=subscribe,
        resubscribe=resubscribe,
        ping=("ping", 20.0, "pong"),
        parse_message=parse_message,
        checksum=checksum,
        checksum_depth=CHECKSUM_DEPTH,
        native_protocol="okx",
    )


EXCHANGE = okx_spec("okx", "spot", "SPOT")
