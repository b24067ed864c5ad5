"""The gateway's wire protocol (docs/gateway.md): channels, close codes, the messages a client
sends and the messages the gateway sends. Messages are JSON text frames; the gateway encodes each
update once, frames it once (`text_frame`) and writes the same bytes to every subscriber."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

import orjson
from websockets.frames import Opcode

from gateway.patterns import KeyPattern
from schemas.topics import Topic


class Channel(StrEnum):
    BOOK = "book"
    METRICS = "metrics"
    BARS = "bars"
    ALERTS = "alerts"

    @property
    def topic(self) -> Topic:
        return CHANNEL_TOPICS[self]

    @property
    def conflatable(self) -> bool:
        """Whether a client that falls behind may get only the newest pending update of a key:
        a book and a metrics record are each a full state, a bar or an alert is an event."""
        return self in (Channel.BOOK, Channel.METRICS)


CHANNEL_TOPICS: dict[Channel, Topic] = {
    Channel.BOOK: Topic.RAW,
    Channel.METRICS: Topic.PROCESSED,
    Channel.BARS: Topic.BARS,
    Channel.ALERTS: Topic.ALERTS,
}
TOPIC_CHANNELS: dict[Topic, Channel] = {t: c for c, t in CHANNEL_TOPICS.items()}


class CloseCode(IntEnum):
    """Why the gateway closed a connection (4000-4999: the range RFC 6455 leaves to applications;
    the last three digits echo the HTTP status of the same meaning)."""

    GOING_AWAY = 1001  # the gateway is shutting down
    UNAUTHORIZED = 4401  # no bearer token, or not one the gateway knows (or none configured)
    ORIGIN_NOT_ALLOWED = 4403  # a browser Origin not in OBM_GATEWAY_ALLOWED_ORIGINS
    SLOW_CONSUMER = 4408  # the client's queue overflowed or a send stalled (it cannot keep up)
    TOO_MANY_CONNECTIONS = 4429  # the token already holds max_connections_per_token connections


class ProtocolError(ValueError):
    """A client message the gateway cannot act on; answered with an `error` message, the
    connection stays open."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Request:
    """A parsed subscribe or unsubscribe: one channel, one or more key patterns."""

    action: str  # "subscribe" | "unsubscribe"
    channel: Channel
    patterns: tuple[KeyPattern, ...]
    request_id: Any = None


def parse_request(text: str | bytes) -> Request:
    """`{"type": "subscribe"|"unsubscribe", "channel": "book", "keys": ["binance:*"], "id": 7}`
    (`id` optional, echoed in the reply)."""
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError("not_json", str(exc)) from None
    if not isinstance(msg, dict):
        raise ProtocolError("bad_message", "a message is a JSON object")
    action = msg.get("type")
    if action not in ("subscribe", "unsubscribe"):
        raise ProtocolError("bad_message", f"type must be subscribe or unsubscribe, got {action!r}")
    try:
        channel = Channel(str(msg.get("channel")))
    except ValueError:
        names = ", ".join(c.value for c in Channel)
        raise ProtocolError(
            "bad_channel", f"channel must be one of {names}, got {msg.get('channel')!r}"
        ) from None
    keys = msg.get("keys")
    if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
        raise ProtocolError("bad_keys", "keys is a non-empty list of strings")
    try:
        patterns = tuple(KeyPattern.parse(k) for k in keys)
    except ValueError as exc:
        raise ProtocolError("bad_keys", str(exc)) from None
    return Request(action, channel, patterns, msg.get("id"))


def encode(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message)


# The first byte of a server's text frame: FIN set, opcode 1 (text).
_TEXT_FIN = bytes((0x80 | Opcode.TEXT.value,))


def text_frame(message: bytes) -> bytes:
    """A message as the bytes of one WebSocket text frame from the server (RFC 6455 5.2: FIN and
    opcode 1, no mask since a server's frames are not masked, the payload length in 7, 7+16 or
    7+64 bits; the gateway negotiates no extension), so one encoding of an update serves every
    subscriber's socket as it is. Built by hand: websockets' Frame.serialize costs ~7 times more,
    once per relayed update."""
    n = len(message)
    if n < 126:
        return _TEXT_FIN + n.to_bytes(1, "big") + message
    if n < 65_536:
        return _TEXT_FIN + b"\x7e" + n.to_bytes(2, "big") + message
    return _TEXT_FIN + b"\x7f" + n.to_bytes(8, "big") + message


def update_message(channel: Channel, key: str, seq: int, ts_ms: int, data: Any) -> bytes:
    """One update of one key; `seq` is the gateway's count of updates of (channel, key), so a
    client that sees seq jump by more than one knows it missed (or was conflated past) some;
    `ts` is the Kafka record's timestamp (ms)."""
    return encode({"type": "update", "channel": channel, "key": key, "seq": seq, "ts": ts_ms, "data": data})


def snapshot_message(channel: Channel, key: str, seq: int, records: list[Any]) -> bytes:
    """The latest value(s) of a key at subscription: one record (bars: the newest of each
    interval, oldest window first); `seq` is that of the last update relayed before it, so the
    next update of the key carries seq + 1."""
    return encode({"type": "snapshot", "channel": channel, "key": key, "seq": seq, "records": records})


def ack_message(request: Request, keys: list[str], complete: bool = True) -> bytes:
    """`subscribed`/`unsubscribed`: the patterns as the client sent them and the keys they
    matched at that moment (keys that appear later are delivered without a new ack);
    `snapshot_complete` is false when Redis could not be read and snapshots come from memory only."""
    return encode({
        "type": f"{request.action}d", "id": request.request_id, "channel": request.channel,
        "patterns": [p.text for p in request.patterns], "keys": keys, "snapshot_complete": complete,
    })  # fmt: skip


def error_message(error: ProtocolError, request_id: Any = None) -> bytes:
    return encode({"type": "error", "id": request_id, "code": error.code, "detail": error.detail})
