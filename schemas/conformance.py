"""What "conforms" means for a record of a topic: one definition, derived from the topic's JSON Schema.

Every consumer of a topic (the Flink jobs through the obm-json format, the sinks, later readers)
applies the same three checks, and a record that fails any of them is data for orderbook.dlq, not
an exception:

1. the JSON Schema itself (types, required fields, bounds, `minItems`, enums, patterns);
2. the rules JSON Schema cannot say, written into the schema as `x-` keywords so they stay beside
   the rest of the contract: `x-equal-length` (arrays that must have the same length, such as a
   book side's prices and sizes) and finite numbers everywhere (JSON has no NaN, but a number such
   as 1e999 parses to infinity);
3. event-time sanity on the field named by `x-event-time`: not more than `max_future_ms` ahead of
   the consumer's clock (ContractSettings, default 5 minutes) (a venue's clock skew within that bound is fine) and not older than
   `max_age_ms` (the topic's retention: such a record could not be replayed or windowed anyway).

`contract_rules(topic)` gives the same rules as plain data for consumers that are not Python (the
Flink format receives them as options), so no rule is spelled twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from schemas.registry import ValidationFailed, load_schema, validator_for
from schemas.topics import Topic


@dataclass(frozen=True)
class ContractRules:
    """The parts of a topic's contract that JSON Schema does not express, as plain data."""

    topic: Topic
    equal_length: tuple[tuple[str, str], ...]
    event_time_field: str | None


@cache
def contract_rules(topic: Topic | str) -> ContractRules:
    schema = load_schema(topic)
    pairs = tuple((str(a), str(b)) for a, b in schema.get("x-equal-length", []))
    return ContractRules(Topic(topic), pairs, schema.get("x-event-time"))


def _non_finite_path(value: Any, path: str) -> str | None:
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        for k, v in value.items():
            found = _non_finite_path(v, f"{path}.{k}" if path else str(k))
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _non_finite_path(v, f"{path}[{i}]")
            if found:
                return found
    return None


def event_time_reason(
    event_time_ms: int, field: str, *, now_ms: int, max_future_ms: int, max_age_ms: int | None
) -> str | None:
    """Why an event time is not acceptable to a consumer whose clock reads `now_ms`, or None."""
    if event_time_ms > now_ms + max_future_ms:
        return f"{field} {event_time_ms} is {event_time_ms - now_ms} ms ahead of the consumer's clock (bound {max_future_ms} ms)"
    if max_age_ms is not None and event_time_ms < now_ms - max_age_ms:
        return f"{field} {event_time_ms} is older than the topic's retention ({max_age_ms} ms)"
    return None


def nonconformity(
    topic: Topic | str,
    record: Any,
    *,
    now_ms: int,
    max_future_ms: int,
    max_age_ms: int | None = None,
) -> str | None:
    """The reason `record` (decoded JSON) breaks the topic's contract, or None when it conforms."""
    try:
        validator_for(topic)(record)
    except ValidationFailed as exc:
        return exc.reason
    rules = contract_rules(topic)
    bad = _non_finite_path(record, "")
    if bad:
        return f"{rules.topic.value}: {bad} is not a finite number"
    for a, b in rules.equal_length:
        if len(record[a]) != len(record[b]):
            return f"{rules.topic.value}: {a} has {len(record[a])} items but {b} has {len(record[b])}"
    if rules.event_time_field is not None:
        return event_time_reason(
            record[rules.event_time_field],
            rules.event_time_field,
            now_ms=now_ms,
            max_future_ms=max_future_ms,
            max_age_ms=max_age_ms,
        )
    return None
