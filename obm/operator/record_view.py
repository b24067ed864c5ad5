"""Turning a Kafka record into something an operator can read, judged by its topic's schema.

Every record is shown, the broken ones included: while debugging, the record that fails the
contract is usually the one being looked for, so it is marked INVALID with the reason, not skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
import orjson
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from obm.operator.topic_reader import message_position
from schemas import Topic, ValidationFailed, original_bytes, validator_for


@dataclass
class DecodedRecord:
    partition: int
    offset: int
    timestamp_ms: int | None
    key: str | None
    value: Any  # the parsed JSON, or the raw text when it is not JSON, or None for a tombstone
    error: str | None  # None when the record is valid (or no schema applies and it is JSON)
    schema: str | None  # the contract topic whose schema was applied

    @property
    def valid(self) -> bool:
        return self.error is None

    def as_json(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "offset": self.offset,
            "timestamp_ms": self.timestamp_ms,
            "key": self.key,
            "valid": self.valid,
            "error": self.error,
            "schema": self.schema,
            "value": self.value,
        }


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="replace")


def decode_record(msg: Message, topic: Topic | None) -> DecodedRecord:
    validate: Callable[[Any], None] | None = validator_for(topic) if topic is not None else None
    ts_type, ts = msg.timestamp()
    raw = msg.value()
    value: Any = None
    error: str | None = None
    if raw is None:
        error = "null value (tombstone)"
    else:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            value = _text(raw)
            error = f"not JSON: {exc}"
        else:
            if validate is not None:
                try:
                    validate(value)
                except ValidationFailed as exc:
                    error = exc.reason
    partition, offset = message_position(msg)
    return DecodedRecord(
        partition=partition,
        offset=offset,
        timestamp_ms=None if ts_type == TIMESTAMP_NOT_AVAILABLE else ts,
        key=_text(msg.key()),
        value=value,
        error=error,
        schema=topic.value if topic is not None else None,
    )


def key_matches(key: str | None, wanted: str) -> bool:
    """Exact key match; a key filter without ':' matches the symbol part (`BTCUSDT` -> `*:BTCUSDT`)."""
    if key is None:
        return False
    if key == wanted:
        return True
    return ":" not in wanted and key.rsplit(":", 1)[-1].upper() == wanted.upper()


DLQ_PAYLOAD_PREVIEW_CHARS = 160


def dlq_line(record: dict[str, Any]) -> str:
    """A DLQ record as a reader wants it: who rejected what from where, why, and the start of the
    original payload (base64 payloads are shown decoded where they are text after all)."""
    origin = record.get("origin") or "-"
    if record.get("topic") is not None:
        origin = f"{record['topic']}[{record.get('partition')}]@{record.get('offset')}"
    payload = original_bytes(record).decode("utf-8", errors="backslashreplace")
    if len(payload) > DLQ_PAYLOAD_PREVIEW_CHARS:
        payload = payload[:DLQ_PAYLOAD_PREVIEW_CHARS] + f"... ({len(payload)} chars)"
    key = record.get("key") or "-"
    return f"[{record.get('source')}] {origin} key {key}: {record.get('reason')} | payload: {payload}"


def format_line(rec: DecodedRecord, color: bool = True) -> str:
    """One human line: time, partition@offset, key, then the record or what is wrong with it."""
    when = (
        datetime.fromtimestamp(rec.timestamp_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        if rec.timestamp_ms is not None
        else "-"
    )
    head = f"{when} p{rec.partition}@{rec.offset} {rec.key or '-'}"
    body = rec.value if isinstance(rec.value, str) else orjson.dumps(rec.value).decode()
    if rec.valid and rec.schema == Topic.DLQ.value:
        return f"{head} {dlq_line(rec.value)}"
    if rec.valid:
        return f"{head} {body}"
    mark = f"INVALID ({rec.error})"
    if color:
        mark = click.style(mark, fg="red", bold=True)
    return f"{head} {mark} {body}"
