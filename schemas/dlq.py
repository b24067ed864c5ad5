"""Builds orderbook.dlq records, so every component reports rejected input the same way:
the reason, where it came from, and the raw payload, nothing lost."""

from __future__ import annotations

import time
from typing import Any

from schemas.registry import SCHEMA_VERSION

# A DLQ record carries the payload whole up to this size; beyond it the tail is cut and the cut
# is said in the reason (Kafka's default message limit is 1 MiB).
MAX_PAYLOAD_CHARS = 512 * 1024


def dlq_record(
    *,
    source: str,
    reason: str,
    payload: bytes | str,
    origin: str | None = None,
    key: str | None = None,
    error_time_ms: int | None = None,
) -> dict[str, Any]:
    text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes | bytearray) else payload
    if len(text) > MAX_PAYLOAD_CHARS:
        reason = f"{reason} (payload truncated from {len(text)} chars)"
        text = text[:MAX_PAYLOAD_CHARS]
    return {
        "schema_version": SCHEMA_VERSION,
        "source": source,
        "origin": origin,
        "key": key,
        "reason": reason or "unspecified",
        "payload": text,
        "error_time_ms": error_time_ms if error_time_ms is not None else time.time_ns() // 1_000_000,
    }
