"""One record at a time: its bytes -> a conforming dict, or RejectedRecord with the kind and the
reason for the DLQ (which must make sense to whoever reads the DLQ). The path for records the batch
paths (columns.py, structs.py) do not take, and for topics without a batch path."""

from __future__ import annotations

from typing import Any

import orjson

from schemas.registry import load_schema
from schemas.topics import Topic
from sinks.batching import SinkRecord
from sinks.decoding.contract import RejectedRecord, RejectKind, TopicContract, non_finite_fallback
from sinks.decoding.fast_check import Check, compile_fast_check

# The generated "certainly valid" check of each topic's schema (None where the schema uses something
# it does not judge: then every record gets the exact judgment); the gateway uses them too.
FAST_CHECKS: dict[Topic, Check | None] = {topic: compile_fast_check(load_schema(topic)) for topic in Topic}


def parse_record(record: SinkRecord, contract: TopicContract) -> Any:
    """JSON-decodes the value without judging it (cheap: for sampling decisions)."""
    if record.value is None:
        raise RejectedRecord(RejectKind.NOT_JSON, "empty value (tombstone)")
    try:
        return orjson.loads(record.value)
    except orjson.JSONDecodeError as exc:
        fallback = non_finite_fallback(record.value)
        if fallback is not None and fallback[1]:
            rejected = contract.judge(fallback[0], finite=False)
            if rejected is not None:
                raise rejected from None
        raise RejectedRecord(RejectKind.NOT_JSON, f"malformed JSON: {exc}") from None


def conforming(data: Any, contract: TopicContract) -> dict[str, Any]:
    """`data` when it conforms to the topic's contract, else raises RejectedRecord. The generated
    fast check and the rules beyond the schema settle the common case; `nonconformity` decides
    the rest and gives the reason."""
    fast = FAST_CHECKS[contract.topic]
    if fast is not None and fast(data) and contract.record_conforms(data):
        return data  # type: ignore[no-any-return]
    rejected = contract.judge(data)
    if rejected is not None:
        raise rejected
    return data  # type: ignore[no-any-return]


def decode_record(record: SinkRecord, contract: TopicContract) -> dict[str, Any]:
    """Parse and judge in one step."""
    return conforming(parse_record(record, contract), contract)
