"""pairs.analytics -> the pair_analytics table of init-db.sql.

A record per pair and second, emitted once by the pairs job, so the rows take the sink's usual
COPY into the staging table and INSERT ... ON CONFLICT DO NOTHING on (pair, ts): a replay changes
nothing. The row path (not the column fast path): the closes are decimal texts stored exactly as
numeric, and adf_time is a nullable time."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from schemas.registry import load_schema
from schemas.topics import Topic
from sinks.postgres_rows import TableSpec, ms_to_datetime

_FIELDS = tuple(
    k for k in load_schema(Topic.PAIRS)["properties"] if k not in ("schema_version", "event_time")
)
# `ts` is the record's event_time (the aligned second), as in the other tables.
PAIRS = TableSpec("pair_analytics", ("ts", *_FIELDS))
_DECIMALS = frozenset({"y_close", "x_close"})


def pairs_row(d: dict[str, Any]) -> tuple[Any, ...]:
    """A conforming pairs.analytics record as the table's row."""
    adf_time = d["adf_time"]
    values = {
        **d,
        "adf_time": ms_to_datetime(adf_time, "adf_time") if adf_time is not None else None,
        **{c: Decimal(d[c]) for c in _DECIMALS},
    }
    return (ms_to_datetime(d["event_time"], "event_time"), *(values[c] for c in _FIELDS))
