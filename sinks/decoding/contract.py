"""The topic contract as the sinks apply it. The definition is schemas/conformance.py
(`nonconformity`): a sink stores a record exactly when its bytes decode as JSON (orjson) and
`nonconformity` finds nothing wrong with the result at the instant the sink judges its batch.

The sinks' fast paths (fast_check.py, columns.py, structs.py) decide most records without calling
`nonconformity`, so each of them applies the rules beyond JSON Schema itself, over whole columns:
the event time within [now - max age, now + max future] (`min`/`max` of the column) and the
`x-equal-length` pairs (`map(len, ...)` of both columns). Finite numbers need no check there:
orjson and msgspec refuse NaN, Infinity and numbers beyond the double range, so a decoded record
holds none (a unit test pins this). A record a fast path does not accept is judged by
`nonconformity`, whose reason goes to the DLQ; so a fast path can decline, never accept, what the
definition rejects (tests compare every path with `nonconformity` on mutated records).

Every reject has a kind (RejectKind), a small fixed set used as a metric label and as the first
word of the DLQ reason ("event_time_ahead: ..."), the same convention as the Flink jobs' format.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from config import ContractSettings
from schemas.conformance import contract_rules, nonconformity
from schemas.registry import ValidationFailed, validator_for
from schemas.topic_policy import age_bound_ms
from schemas.topics import Topic


class RejectKind(StrEnum):
    """Why a sink did not store a record, coarse enough to count (obm_sink_records_rejected)."""

    NOT_JSON = "not_json"  # not JSON (or a tombstone): the payload cannot be read at all
    SCHEMA = "schema"  # JSON that breaks the topic's JSON Schema (types, nulls, fields, bounds, enums)
    NOT_FINITE = "not_finite"  # NaN, Infinity or a number beyond the double range
    UNEQUAL_LENGTH = "unequal_length"  # arrays of an x-equal-length pair differ in length
    EVENT_TIME_AHEAD = "event_time_ahead"  # more than max_future_ms ahead of the sink's clock
    EVENT_TIME_TOO_OLD = "event_time_too_old"  # older than the topic's retention (max_age_ms)
    DATABASE_REFUSED = "database_refused"  # conforms, but the database cannot hold a value


class RejectedRecord(ValueError):
    """A record the sink does not store; `reason` (prefixed with its kind) goes to the DLQ."""

    def __init__(self, kind: RejectKind, detail: str) -> None:
        self.kind = kind
        self.reason = f"{kind.value}: {detail}"
        super().__init__(self.reason)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class TopicContract:
    """One topic's contract at one reading of the sink's clock: a batch is judged at one instant."""

    topic: Topic
    now_ms: int
    max_future_ms: int
    max_age_ms: int | None

    @property
    def event_time_field(self) -> str | None:
        return contract_rules(self.topic).event_time_field

    @property
    def equal_length(self) -> tuple[tuple[str, str], ...]:
        return contract_rules(self.topic).equal_length

    @property
    def latest_ms(self) -> int:
        """The newest acceptable event time."""
        return self.now_ms + self.max_future_ms

    @property
    def earliest_ms(self) -> int | None:
        """The oldest acceptable event time (None: no lower bound)."""
        return None if self.max_age_ms is None else self.now_ms - self.max_age_ms

    def columns_conform(self, column: Callable[[str], Sequence[Any]]) -> bool:
        """For a batch whose records each satisfy the topic's JSON Schema and were decoded by orjson
        or msgspec: True when the rules beyond JSON Schema hold for every record. `column(name)`
        gives the batch's values of a field (its event time must be a required integer, the
        equal-length fields required arrays: sinks.decoding.vocabulary.check_object_schema)."""
        if self.event_time_field is not None:
            times = column(self.event_time_field)
            earliest = self.earliest_ms
            if times and (max(times) > self.latest_ms or (earliest is not None and min(times) < earliest)):
                return False
        for a, b in self.equal_length:
            if list(map(len, column(a))) != list(map(len, column(b))):
                return False
        return True

    def record_conforms(self, data: dict[str, Any]) -> bool:
        """`columns_conform` for one schema-valid record."""
        return self.columns_conform(lambda name: (data[name],))

    def judge(self, data: Any, *, finite: bool = True) -> RejectedRecord | None:
        """The exact judgment of a decoded record: None when it conforms, else the reject with
        `nonconformity`'s reason. `finite=False` says the record was decoded by a parser that
        admits non-finite numbers (parse_record's fallback) and holds one."""
        reason = nonconformity(self.topic, data, now_ms=self.now_ms, max_future_ms=self.max_future_ms,
                               max_age_ms=self.max_age_ms)  # fmt: skip
        return None if reason is None else RejectedRecord(self._kind(data, finite), reason)

    def _kind(self, data: Any, finite: bool) -> RejectKind:
        """Which of nonconformity's checks, taken in its order, fails first."""
        try:
            validator_for(self.topic)(data)
        except ValidationFailed:
            return RejectKind.SCHEMA
        if not finite:
            return RejectKind.NOT_FINITE
        for a, b in self.equal_length:
            if len(data[a]) != len(data[b]):
                return RejectKind.UNEQUAL_LENGTH
        if self.event_time_field is not None and data[self.event_time_field] > self.latest_ms:
            return RejectKind.EVENT_TIME_AHEAD
        return RejectKind.EVENT_TIME_TOO_OLD


def topic_max_age_ms(topic: Topic, settings: ContractSettings) -> int:
    """The age beyond which a record of `topic` is rejected: the setting, or when it is 0 the
    topic's retention (schemas/topic_policy.py)."""
    return age_bound_ms(topic, settings.max_age_ms)


@dataclass(frozen=True)
class SinkContract:
    """The bounds a sink judges event times by (ContractSettings) and its clock."""

    max_future_ms: int
    max_age_ms: Mapping[Topic, int | None]
    clock: Callable[[], int] = wall_clock_ms

    @classmethod
    def from_settings(cls, settings: ContractSettings | None = None,
                      clock: Callable[[], int] = wall_clock_ms) -> SinkContract:  # fmt: skip
        s = settings or ContractSettings()
        return cls(s.max_future_ms, {t: topic_max_age_ms(t, s) for t in Topic}, clock)

    def at(self, topic: Topic, now_ms: int) -> TopicContract:
        return TopicContract(topic, now_ms, self.max_future_ms, self.max_age_ms.get(topic))


def non_finite_fallback(value: bytes) -> tuple[Any, bool] | None:
    """A payload orjson refused, read by Python's json module, which also reads NaN, Infinity and
    numbers beyond the double range: (the decoded value, whether it holds such a number), or None
    when it is not even that. Lets the DLQ reason name the non-finite number instead of a parse
    error; only rejected records get here."""
    seen: list[bool] = []

    def number(text: str) -> float:
        f = float(text)
        if not math.isfinite(f):
            seen.append(True)
        return f

    try:
        data = json.loads(value, parse_float=number, parse_constant=number)
    except (ValueError, TypeError, RecursionError):
        return None
    return data, bool(seen)
