"""Turns a record's bytes into a validated dict, or says in words why it cannot be: the reason is
what ends up in orderbook.dlq, so it must make sense to whoever reads the DLQ."""

from __future__ import annotations

from typing import Any

import orjson

from schemas.registry import ValidationFailed, load_schema, validator_for
from schemas.topics import Topic
from sinks.batching import SinkRecord
from sinks.fast_validation import compile_fast_check

_VALIDATORS = {topic: validator_for(topic) for topic in Topic}
_FAST_CHECKS = {topic: compile_fast_check(load_schema(topic)) for topic in Topic}


class RejectedRecord(ValueError):
    """The record cannot be stored; `reason` says why (goes to the DLQ)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_record(record: SinkRecord) -> Any:
    """JSON-decodes the value without schema validation (cheap: for sampling decisions)."""
    if record.value is None:
        raise RejectedRecord("empty value (tombstone)")
    try:
        return orjson.loads(record.value)
    except orjson.JSONDecodeError as exc:
        raise RejectedRecord(f"malformed JSON: {exc}") from None


def validate_record(topic: Topic, data: Any) -> dict[str, Any]:
    """Validates against the topic's JSON Schema; returns the dict or raises RejectedRecord.
    The generated fast check settles the common case; the full validator decides the rest."""
    fast = _FAST_CHECKS[topic]
    if fast is not None and fast(data):
        return data  # type: ignore[no-any-return]
    try:
        _VALIDATORS[topic](data)
    except ValidationFailed as exc:
        raise RejectedRecord(exc.reason) from None
    return data  # type: ignore[no-any-return]


def decode_record(record: SinkRecord) -> dict[str, Any]:
    """Parse and validate in one step."""
    return validate_record(record.topic, parse_record(record))
