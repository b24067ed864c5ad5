"""Builds orderbook.dlq records, so every component reports rejected input the same way: the
reason, who rejected it, where it came from (topic, partition, offset where it was a Kafka record)
and the original bytes, nothing lost. A DLQ record holds enough to put the original record back
on its topic once the cause is fixed (`original_bytes`, used by `obm replay`)."""

from __future__ import annotations

import base64
import time
from typing import Any

from schemas.registry import SCHEMA_VERSION

# A DLQ record carries the payload whole up to this size; beyond it the tail is cut and the cut
# is said in the reason (Kafka's default message limit is 1 MiB).
MAX_PAYLOAD_CHARS = 512 * 1024


def _payload_text(payload: bytes | bytearray | str) -> tuple[str, str]:
    """(text, encoding): UTF-8 text as is, other bytes as base64 so they survive exactly."""
    if isinstance(payload, str):
        return payload, "utf-8"
    try:
        return bytes(payload).decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(bytes(payload)).decode("ascii"), "base64"


def dlq_record(
    *,
    source: str,
    reason: str,
    payload: bytes | str,
    origin: str | None = None,
    key: str | None = None,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    error_time_ms: int | None = None,
) -> dict[str, Any]:
    """`source` is the consumer that rejected the input (producer, flink-metrics, sink-postgres,
    ...); `topic`/`partition`/`offset` say where a rejected Kafka record is (origin is then
    derived as topic[partition]@offset unless given)."""
    text, encoding = _payload_text(payload)
    if len(text) > MAX_PAYLOAD_CHARS:
        reason = f"{reason} (payload truncated from {len(text)} chars)"
        text = text[:MAX_PAYLOAD_CHARS]
    if origin is None and topic is not None:
        origin = f"{topic}[{partition}]@{offset}"
    return {
        "schema_version": SCHEMA_VERSION,
        "source": source,
        "origin": origin,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key,
        "reason": reason or "unspecified",
        "payload": text,
        "payload_encoding": encoding,
        "error_time_ms": error_time_ms if error_time_ms is not None else time.time_ns() // 1_000_000,
    }


def original_bytes(record: dict[str, Any]) -> bytes:
    """The bytes that were rejected, from a DLQ record (inverse of dlq_record's payload)."""
    if record.get("payload_encoding") == "base64":
        return base64.b64decode(record["payload"])
    return str(record["payload"]).encode("utf-8")
