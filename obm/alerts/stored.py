"""Processed records from PostgreSQL (the orderbook_metrics table the sink fills), for evaluating
and calibrating the alert rules on stored history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from config import PostgresSettings
from flink_jobs.alert_rules import BOOK_FIELDS

COLUMNS = (
    "exchange", "market", "symbol", "event_time", "sequence_id", "imbalance_1", "imbalance_5",
    "imbalance_10", "imbalance_20", "imbalance_velocity", "spread_bps_mean", *BOOK_FIELDS,
)  # fmt: skip


def stored_records(
    settings: PostgresSettings, start: datetime, end: datetime, symbols: list[str] | None = None
) -> list[dict[str, Any]]:
    """The stored processed records with start <= ts < end (all symbols, or those named), in
    (event time, sequence id) order per key."""
    where: sql.Composable = sql.SQL("ts >= %(start)s AND ts < %(end)s")
    if symbols:
        where = sql.SQL("{} AND symbol = ANY(%(symbols)s)").format(where)
    query = sql.SQL(
        "SELECT {cols} FROM orderbook_metrics WHERE {where} ORDER BY event_time, sequence_id"
    ).format(cols=sql.SQL(", ").join(sql.Identifier(c) for c in dict.fromkeys(COLUMNS)), where=where)
    params = {"start": start, "end": end, "symbols": [s.upper() for s in symbols or []]}
    with psycopg.connect(settings.conninfo(), connect_timeout=5, row_factory=dict_row) as conn:
        return list(conn.execute(query, params))
