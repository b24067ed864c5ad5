"""Record -> row conversion for the PostgreSQL tables of init-db.sql.

Column lists come from the topic schemas themselves (every field except schema_version), so a field
added to a schema and to init-db.sql flows through without touching this file, and a test checks the
two agree. Conversions that can fail on a conforming record (a millisecond timestamp beyond the
year 9999) raise RejectedRecord (kind database_refused), which the sink turns into a DLQ record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.registry import load_schema
from schemas.topics import Topic
from sinks.batching import SinkRecord
from sinks.decoding.contract import RejectedRecord, RejectKind

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _fields(topic: Topic) -> tuple[str, ...]:
    return tuple(k for k in load_schema(topic)["properties"] if k != "schema_version")


@dataclass(frozen=True)
class TableSpec:
    """A target table, its staging table (a temp table per connection) and the copied columns."""

    table: str
    columns: tuple[str, ...]

    @property
    def stage(self) -> str:
        return f"stage_{self.table}"

    @property
    def sources(self) -> tuple[str, ...]:
        """The record field each column comes from, for the tables built from columns (metrics,
        bars, alerts): `ts` is the record's event_time, every other column the field of its name."""
        return tuple("event_time" if c == "ts" else c for c in self.columns)


METRIC_FIELDS = _fields(Topic.PROCESSED)
BAR_FIELDS = _fields(Topic.BARS)
ALERT_FIELDS = _fields(Topic.ALERTS)
_BAR_TIMES = ("window_start", "window_end")
_ALERT_TIMES = ("window_start", "window_end", "event_time")

METRICS = TableSpec("orderbook_metrics", ("ts", *METRIC_FIELDS))
BARS = TableSpec("orderbook_bars", BAR_FIELDS)
ALERTS = TableSpec("orderbook_alerts", ("ts", *ALERT_FIELDS))
DLQ = TableSpec(
    "orderbook_dlq",
    (
        "error_time",
        "source",
        "origin",
        "key",
        "reason",
        "payload",
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        "source_topic",
        "source_partition",
        "source_offset",
        "payload_encoding",
    ),
)
SNAPSHOTS = TableSpec(
    "orderbook_snapshots",
    ("ts", "exchange", "symbol", "sequence_id", "bid_prices", "bid_sizes", "ask_prices", "ask_sizes"),
)
ALL_TABLES = (METRICS, BARS, ALERTS, DLQ, SNAPSHOTS)
# The raw record's fields a snapshot row is made of (event_time gives `ts`, the second).
_SNAPSHOT_FIELDS = ("event_time", *SNAPSHOTS.columns[1:])


# The datetimes of the row path cover years 1..9999; the column path takes the same range, so the
# same records are accepted and the others take the row path, which rejects them with a reason.
MIN_MS = -62_135_596_800_000
MAX_MS = 253_402_300_799_999
# The Unix time of PostgreSQL's epoch (2000-01-01 UTC) in ms: binary timestamptz is an int64 of
# microseconds since then.
_PG_EPOCH_MS = 946_684_800_000
TIMESTAMPTZ = "timestamp with time zone"


def rows_from_columns(spec: TableSpec, columns: dict[str, tuple[Any, ...]], types: dict[str, frozenset[type]],
                      pg_types: list[str]) -> tuple[list[str], list[tuple[Any, ...]]] | None:  # fmt: skip
    """The table's COPY rows straight from a batch's judged columns (sinks.decoding.columns), with
    the types to give psycopg's binary COPY; None when the row path must be taken instead.

    The rows hold the records' own values, as the row converters would, except that a time column
    holds its binary form directly: microseconds since 2000-01-01 as a bigint, which is exactly the
    8 bytes binary COPY sends for a timestamptz (and saves a datetime object per value). Times that
    are not integers or lie outside years 1..9999 return None, so the row path decides about them.
    """
    out_types: list[str] = []
    out_columns: list[Sequence[Any]] = []
    for source, pg_type in zip(spec.sources, pg_types, strict=True):
        values: Sequence[Any] = columns[source]
        if pg_type == TIMESTAMPTZ:
            if not types[source] <= {int} or (values and (min(values) < MIN_MS or max(values) > MAX_MS)):
                return None
            values = [(ms - _PG_EPOCH_MS) * 1000 for ms in values]
            pg_type = "bigint"
        out_types.append(pg_type)
        out_columns.append(values)
    return out_types, list(zip(*out_columns, strict=True))


def ms_to_datetime(ms: int, field: str = "time") -> datetime:
    """Exact (no float rounding) ms -> aware UTC datetime; out-of-range values are rejects."""
    try:
        return EPOCH + timedelta(milliseconds=ms)
    except (OverflowError, TypeError) as exc:
        raise RejectedRecord(
            RejectKind.DATABASE_REFUSED, f"{field}={ms!r} is not a representable timestamp ({exc})"
        ) from None


def metrics_row(d: dict[str, Any]) -> tuple[Any, ...]:
    return (ms_to_datetime(d["event_time"], "event_time"), *map(d.get, METRIC_FIELDS))


def bars_row(d: dict[str, Any]) -> tuple[Any, ...]:
    row = dict(d)
    for f in _BAR_TIMES:
        row[f] = ms_to_datetime(d[f], f)
    return tuple(map(row.get, BAR_FIELDS))


def alerts_row(d: dict[str, Any]) -> tuple[Any, ...]:
    row = dict(d)
    for f in _ALERT_TIMES:
        row[f] = ms_to_datetime(d[f], f)
    return (row["event_time"], *map(row.get, ALERT_FIELDS))


def snapshot_second(event_time_ms: int) -> int:
    """The second a raw record belongs to (its event_time floored); the snapshot table keeps the
    first record of each second per symbol."""
    return event_time_ms // 1000


def snapshots_row(d: Any) -> tuple[Any, ...]:
    """The snapshot row of a conforming raw record, a dict or a Struct (sinks.decoding.structs)."""
    if not isinstance(d, dict):
        d = {name: getattr(d, name) for name in _SNAPSHOT_FIELDS}
    ts = ms_to_datetime(snapshot_second(d["event_time"]) * 1000, "event_time")
    return (ts, *map(d.__getitem__, _SNAPSHOT_FIELDS[1:]))


def dlq_row(d: dict[str, Any], rec: SinkRecord) -> tuple[Any, ...]:
    """A valid orderbook.dlq record; the Kafka position makes redelivery idempotent."""
    return (
        ms_to_datetime(d["error_time_ms"], "error_time_ms"),
        _no_nul(d["source"]), _no_nul(d.get("origin")), _no_nul(d.get("key")), _no_nul(d["reason"]),
        _no_nul(d["payload"]), rec.topic_name, rec.partition, rec.offset,
        _no_nul(d.get("topic")), d.get("partition"), d.get("offset"), d.get("payload_encoding") or "utf-8",
    )  # fmt: skip


def _no_nul(text: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; the DLQ table must take any payload, so NUL becomes U+FFFD."""
    return text.replace("\x00", "\ufffd") if text is not None and "\x00" in text else text


def invalid_dlq_row(rec: SinkRecord, reason: str, source: str) -> tuple[Any, ...]:
    """An orderbook.dlq record that is itself invalid is stored as is (never sent back to the DLQ
    topic, which would loop). error_time is the Kafka timestamp: deterministic on replay."""
    payload = rec.value.decode("utf-8", errors="replace") if rec.value is not None else ""
    return (
        ms_to_datetime(rec.timestamp_ms, "kafka timestamp"),
        source, rec.origin, rec.key_text, f"invalid {rec.topic.value} record: {reason}",
        _no_nul(payload), rec.topic_name, rec.partition, rec.offset, None, None, None, "utf-8",
    )  # fmt: skip
