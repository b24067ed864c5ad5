"""trades.raw -> the trades table of init-db.sql.

A trade is one record, emitted once per venue trade id by the producer (which drops the venue's
own duplicates), so the rows take the sink's usual insert: COPY into the staging table and
INSERT ... ON CONFLICT DO NOTHING on (exchange, symbol, trade_id, ts). A replayed batch or a sink
restarted behind its last commit stores nothing twice. The row path (not the column fast path):
price and size are the venue's decimal texts, stored exactly as numeric."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from schemas.registry import load_schema
from schemas.topics import Topic
from sinks.postgres_rows import TableSpec, ms_to_datetime

_FIELDS = tuple(
    k for k in load_schema(Topic.TRADES)["properties"] if k not in ("schema_version", "event_time")
)
# `ts` is the trade's event_time, as in the other tables.
TRADES = TableSpec("trades", ("ts", *_FIELDS))
_DECIMALS = frozenset({"price", "size"})


def trades_row(d: dict[str, Any]) -> tuple[Any, ...]:
    """A conforming trades.raw record as the table's row (decimal texts as Decimal: exact)."""
    return (
        ms_to_datetime(d["event_time"], "event_time"),
        *(Decimal(d[c]) if c in _DECIMALS else d[c] for c in _FIELDS),
    )
