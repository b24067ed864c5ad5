"""Reading orderbook.dlq for an operator: each record decoded (schemas/dlq.py builds them), grouped
by the consumer that rejected it and the kind of reason.

Every consumer writes its reason as `<kind>: <detail>` (the Flink format's RejectKind, the sinks'
RejectKind, the producer's schema failures), so the text before the first colon is the kind a
summary counts by; `obm dlq` prints the groups and `obm replay --from-dlq` puts the original bytes
back on their topic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE

from config import KafkaSettings
from obm.operator.positions import Position
from obm.operator.topic_policy import full_topic_name
from obm.operator.topic_reader import TopicSlice, message_position, plan_slice, read_slice, slice_consumer
from schemas import Topic

MAX_KIND_CHARS = 48


def reason_kind(reason: str) -> str:
    """The coarse kind of a DLQ reason: the text before its first colon (`wrong_type: ...` ->
    `wrong_type`), or the whole reason cut short when it has no such prefix."""
    head, sep, _ = reason.partition(":")
    if sep and head.strip() and len(head.strip()) <= MAX_KIND_CHARS:
        return head.strip()
    return reason[:MAX_KIND_CHARS].strip() or "unspecified"


@dataclass(frozen=True)
class DlqEntry:
    """One DLQ record: where it sits in orderbook.dlq and what it says."""

    dlq_partition: int
    dlq_offset: int
    timestamp_ms: int | None
    record: dict[str, Any]

    @property
    def source(self) -> str:
        return str(self.record.get("source") or "?")

    @property
    def reason(self) -> str:
        return str(self.record.get("reason") or "")

    @property
    def kind(self) -> str:
        return reason_kind(self.reason)

    @property
    def error_time_ms(self) -> int | None:
        value = self.record.get("error_time_ms")
        return int(value) if isinstance(value, int) else self.timestamp_ms

    @property
    def origin(self) -> str:
        topic = self.record.get("topic")
        if topic is not None:
            return f"{topic}[{self.record.get('partition')}]@{self.record.get('offset')}"
        return str(self.record.get("origin") or "-")


@dataclass(frozen=True)
class DlqFilter:
    source: str | None = None
    reason_contains: str | None = None

    def matches(self, entry: DlqEntry) -> bool:
        if self.source is not None and entry.source != self.source:
            return False
        return self.reason_contains is None or self.reason_contains.lower() in entry.reason.lower()


def plan_dlq_slice(settings: KafkaSettings, start: Position, until: Position) -> TopicSlice:
    consumer = slice_consumer(settings)
    try:
        return plan_slice(consumer, full_topic_name(Topic.DLQ.value, settings), start, until)
    finally:
        consumer.close()


def read_dlq(settings: KafkaSettings, piece: TopicSlice, wanted: DlqFilter) -> Iterator[DlqEntry]:
    """The DLQ records of the slice that match the filter. A DLQ record that is not a JSON object
    (written by hand, or by a bug) is kept with source `?` so that it is counted, not hidden."""
    consumer = slice_consumer(settings)
    try:
        with closing(read_slice(consumer, piece)) as messages:
            for msg in messages:
                part, off = message_position(msg)
                ts_type, ts = msg.timestamp()
                try:
                    record = orjson.loads(msg.value() or b"")
                except orjson.JSONDecodeError:
                    record = None
                if not isinstance(record, dict):
                    record = {"source": "?", "reason": "unreadable: not a DLQ record (not a JSON object)"}
                entry = DlqEntry(part, off, None if ts_type == TIMESTAMP_NOT_AVAILABLE else ts, record)
                if wanted.matches(entry):
                    yield entry
    finally:
        consumer.close()


@dataclass
class DlqGroup:
    """The DLQ records of one consumer and one reason kind."""

    source: str
    kind: str
    count: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    example_origin: str = "-"
    example_reason: str = ""
    topics: set[str] = field(default_factory=set)

    def add(self, entry: DlqEntry) -> None:
        if self.count == 0:
            self.example_origin, self.example_reason = entry.origin, entry.reason
        self.count += 1
        when = entry.error_time_ms
        if when is not None:
            self.first_ms = when if self.first_ms is None else min(self.first_ms, when)
            self.last_ms = when if self.last_ms is None else max(self.last_ms, when)
        if entry.record.get("topic"):
            self.topics.add(str(entry.record["topic"]))

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "count": self.count,
            "first_ms": self.first_ms,
            "last_ms": self.last_ms,
            "topics": sorted(self.topics),
            "example_origin": self.example_origin,
            "example_reason": self.example_reason,
        }


def summarize(entries: Iterator[DlqEntry]) -> list[DlqGroup]:
    """Groups by (source, kind), the largest first."""
    groups: dict[tuple[str, str], DlqGroup] = {}
    for entry in entries:
        key = (entry.source, entry.kind)
        groups.setdefault(key, DlqGroup(*key)).add(entry)
    return sorted(groups.values(), key=lambda g: (-g.count, g.source, g.kind))
