"""trades.bars -> the trade_bars table of init-db.sql: rows, and the upsert that stores them.

A bar comes as several versions (flink_jobs/trade_bars.py: again, updated, for each trade within
the allowed lateness), so this table is written by upsert, not by the COPY-and-ignore of the
other tables: the batch is COPYed into the staging table, the version with the most trades of
each bar in it is kept (DISTINCT ON), and it replaces the stored row only when it counts more
trades. So a replayed batch, an older version read after a newer one or the same version twice
change nothing, and the newest version wins whatever the order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from psycopg import sql

from schemas.registry import load_schema
from schemas.topics import Topic
from sinks.postgres_rows import TableSpec, ms_to_datetime

TRADE_BARS = TableSpec(
    "trade_bars", tuple(k for k in load_schema(Topic.TRADE_BARS)["properties"] if k != "schema_version")
)
KEY = ("exchange", "symbol", "interval", "window_start")
_TIMES = ("window_start", "window_end")
_DECIMALS = frozenset(
    name for name, spec in load_schema(Topic.TRADE_BARS)["properties"].items() if spec.get("type") == "string"
) - {"exchange", "symbol"}


def trade_bars_row(d: dict[str, Any]) -> tuple[Any, ...]:
    """A conforming trades.bars record as the table's row (decimal texts as Decimal: exact)."""
    return tuple(
        ms_to_datetime(d[c], c) if c in _TIMES else Decimal(d[c]) if c in _DECIMALS else d[c]
        for c in TRADE_BARS.columns
    )


def upsert_from_stage(spec: TableSpec) -> sql.Composed:
    """INSERT of the staged rows that keeps, per bar, the version with the most trades."""
    cols = sql.SQL(", ").join(map(sql.Identifier, spec.columns))
    key = sql.SQL(", ").join(map(sql.Identifier, KEY))
    updates = sql.SQL(", ").join(
        sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
        for c in spec.columns
        if c not in KEY
    )
    return sql.SQL(
        "INSERT INTO {table} ({cols}) SELECT DISTINCT ON ({key}) {cols} FROM {stage} ORDER BY {key}, trade_count DESC "
        "ON CONFLICT ({key}) DO UPDATE SET {updates} WHERE {table}.trade_count < EXCLUDED.trade_count"
    ).format(
        table=sql.Identifier(spec.table),
        stage=sql.Identifier(spec.stage),
        cols=cols,
        key=key,
        updates=updates,
    )
