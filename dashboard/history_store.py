"""History from PostgreSQL (the tables of init-db.sql), always for given symbols and a bounded
time range, through the tables' keys, so no query reads a whole table:

- bars: the key (exchange, symbol, interval, window_start), aggregated in SQL into at most a few
  hundred buckets, so a day of 1 s bars crosses the wire as 720 rows, not 86 400;
- metrics: the book-shape metrics of orderbook_metrics (one row per update) aggregated in SQL into
  the same buckets (mean per bucket, min/max where the chart draws a range, depth completeness as
  "complete in every update of the bucket");
- snapshots: one index probe per heatmap column (generate_series + LATERAL ... LIMIT 1);
- latest metrics and symbols: a probe per symbol on the keys (a "loose index scan"), never
  SELECT DISTINCT or max() over the table.

One connection per store, guarded by a lock (Streamlit serves each browser session from its own
thread). After a failure the store refuses for `retry_after_s` instead of letting every widget of
every session wait for a connect timeout: the page says "database down" at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import psycopg
from psycopg import sql as pgsql

from config import PostgresSettings
from dashboard.time_window import TimeWindow
from schemas import record_key, split_record_key

# Per-session settings of the dashboard's connection: bucketing a day of 1 s bars sorts ~86k rows,
# which spills to disk at the default 4 MB work_mem; and no dashboard query may run away.
SESSION_OPTIONS = "-c work_mem=32MB -c statement_timeout=15000"

BAR_COLUMNS = (
    "mid_open, mid_high, mid_low, mid_close, imbalance_mean, imbalance_min, imbalance_max, "
    "spread_bps_mean, spread_bps_max, ofi_sum, update_count, microprice_last"
)

BUCKETED_BARS_SQL = """
SELECT date_bin(make_interval(secs => %(bucket)s), window_start, timestamptz '2000-01-01') AS time,
       (array_agg(mid_open ORDER BY window_start))[1] AS mid_open,
       max(mid_high) AS mid_high, min(mid_low) AS mid_low,
       (array_agg(mid_close ORDER BY window_start DESC))[1] AS mid_close,
       coalesce(sum(imbalance_mean * update_count)
                / nullif(sum(update_count) FILTER (WHERE imbalance_mean IS NOT NULL), 0),
                avg(imbalance_mean)) AS imbalance_mean,
       min(imbalance_min) AS imbalance_min, max(imbalance_max) AS imbalance_max,
       avg(spread_bps_mean) AS spread_bps_mean, max(spread_bps_max) AS spread_bps_max,
       sum(ofi_sum) AS ofi_sum, sum(update_count) AS update_count,
       (array_agg(microprice_last ORDER BY window_start DESC))[1] AS microprice_last
FROM orderbook_bars
WHERE exchange = %(exchange)s AND symbol = %(symbol)s AND "interval" = %(interval)s
  AND window_start >= %(start)s AND window_start < %(end)s
GROUP BY 1
ORDER BY 1
"""

RAW_BARS_SQL = f"""
SELECT window_start AS time, {BAR_COLUMNS}
FROM orderbook_bars
WHERE exchange = %(exchange)s AND symbol = %(symbol)s AND "interval" = %(interval)s
  AND window_start >= %(start)s AND window_start < %(end)s
ORDER BY window_start
"""

METRIC_SERIES_SQL = """
SELECT date_bin(make_interval(secs => {bucket}), ts, timestamptz '2000-01-01') AS time, {aggregates}
FROM orderbook_metrics
WHERE exchange = {exchange} AND symbol = {symbol} AND ts >= {start} AND ts < {end}
GROUP BY 1
ORDER BY 1
"""

SAMPLED_SNAPSHOTS_SQL = """
SELECT s.ts, s.bid_prices, s.bid_sizes, s.ask_prices, s.ask_sizes
FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 microsecond',
                     make_interval(secs => %(bucket)s)) AS g(t)
CROSS JOIN LATERAL (
    SELECT ts, bid_prices, bid_sizes, ask_prices, ask_sizes
    FROM orderbook_snapshots
    WHERE exchange = %(exchange)s AND symbol = %(symbol)s
      AND ts >= g.t AND ts < least(g.t + make_interval(secs => %(bucket)s), %(end)s::timestamptz)
    ORDER BY ts
    LIMIT 1
) AS s
ORDER BY s.ts
"""

ALERT_COLUMNS = (
    "alert_id, alert_type, severity, exchange, market, symbol, metric_value, threshold, "
    "window_start, window_end, event_time, message, context, rule_id, rule_name, rule_version"
)

# The symbols join is only added when symbols are given; unnest keeps (exchange, symbol) pairs
# together so the planner can use the (exchange, symbol, ts) index.
ALERTS_WHERE = """
FROM orderbook_alerts a
{join}
WHERE a.ts >= %(start)s AND a.ts < %(end)s
  AND (cardinality(%(severities)s::text[]) = 0 OR a.severity = ANY(%(severities)s::text[]))
  AND (cardinality(%(types)s::text[]) = 0 OR a.alert_type = ANY(%(types)s::text[]))
"""
SYMBOLS_JOIN = (
    "JOIN unnest(%(exchanges)s::text[], %(symbols)s::text[]) AS k(exchange, symbol) "
    "ON a.exchange = k.exchange AND a.symbol = k.symbol"
)

LATEST_METRICS_SQL = """
SELECT m.*
FROM unnest(%(exchanges)s::text[], %(symbols)s::text[]) AS k(exchange, symbol)
CROSS JOIN LATERAL (
    SELECT * FROM orderbook_metrics
    WHERE exchange = k.exchange AND symbol = k.symbol AND ts >= %(since)s
    ORDER BY ts DESC, sequence_id DESC
    LIMIT 1
) AS m
"""

LAST_ALERTS_SQL = f"""
SELECT a.*
FROM unnest(%(exchanges)s::text[], %(symbols)s::text[]) AS k(exchange, symbol)
CROSS JOIN LATERAL (
    SELECT {ALERT_COLUMNS} FROM orderbook_alerts
    WHERE exchange = k.exchange AND symbol = k.symbol AND ts >= %(since)s
    ORDER BY ts DESC
    LIMIT 1
) AS a
"""


def known_keys_sql(table: str, interval: str) -> str:
    """The exchange:symbol keys of a bars table (`table`, a constant of the code) with a bar of
    `interval` since %(since)s, by a loose index scan over its (exchange, symbol) key: one probe
    per distinct key, then a probe for "has a bar since". Reads a handful of index pages however
    long the history is; never SELECT DISTINCT over the table."""
    return f"""
WITH RECURSIVE k AS (
    (SELECT exchange, symbol FROM {table} ORDER BY exchange, symbol LIMIT 1)
    UNION ALL
    SELECT n.exchange, n.symbol
    FROM k CROSS JOIN LATERAL (
        SELECT b.exchange, b.symbol FROM {table} b
        WHERE (b.exchange, b.symbol) > (k.exchange, k.symbol)
        ORDER BY b.exchange, b.symbol
        LIMIT 1
    ) AS n
)
SELECT exchange || ':' || symbol AS key FROM k
WHERE EXISTS (
    SELECT 1 FROM {table} b
    WHERE b.exchange = k.exchange AND b.symbol = k.symbol AND b."interval" = '{interval}'
      AND b.window_start >= %(since)s
)
ORDER BY 1
"""


KNOWN_SYMBOLS_SQL = known_keys_sql("orderbook_bars", "1s")

EXPORTS: dict[str, tuple[str, str, str]] = {
    # name -> (table, time column, extra condition)
    "metrics": ("orderbook_metrics", "ts", ""),
    "bars 1s": ("orderbook_bars", "window_start", "AND \"interval\" = '1s'"),
    "bars 1m": ("orderbook_bars", "window_start", "AND \"interval\" = '1m'"),
    "alerts": ("orderbook_alerts", "ts", ""),
    "trades": ("trades", "ts", ""),
}


class HistoryUnavailable(RuntimeError):
    """PostgreSQL cannot be reached or a query failed."""


def _pairs(keys: Sequence[str]) -> dict[str, list[str]]:
    exchanges, symbols = [], []
    for key in keys:
        exchange, symbol = split_record_key(key)
        exchanges.append(exchange)
        symbols.append(symbol)
    return {"exchanges": exchanges, "symbols": symbols}


class HistoryStore:
    def __init__(self, settings: PostgresSettings, connect_timeout_s: int = 2, retry_after_s: float = 3.0):
        self.conninfo = settings.conninfo()
        self.connect_timeout_s = connect_timeout_s
        self.retry_after_s = retry_after_s
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self._failed_at: float | None = None
        self._last_error = ""

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        if self._failed_at is not None and time.monotonic() - self._failed_at < self.retry_after_s:
            raise HistoryUnavailable(self._last_error)
        self._conn = psycopg.connect(
            self.conninfo,
            connect_timeout=self.connect_timeout_s,
            autocommit=True,
            application_name="obm-dashboard",
            options=SESSION_OPTIONS,
        )
        return self._conn

    def _query(
        self, sql: str | pgsql.Composable, params: dict[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._lock:
            try:
                conn = self._connection()
                with conn.cursor() as cur:
                    cur.execute(sql, params)  # type: ignore[arg-type]
                    columns = [d.name for d in cur.description or []]
                    rows = cur.fetchall()
                self._failed_at = None
                return columns, rows
            except psycopg.Error as exc:
                self._failed_at = time.monotonic()
                self._last_error = f"PostgreSQL: {str(exc).strip() or type(exc).__name__}"
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                raise HistoryUnavailable(self._last_error) from exc

    def rows(self, sql: str | pgsql.Composable, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The rows of a query of another dashboard module (dashboard/hit_rate_store.py), through
        this store's connection, lock and failure handling."""
        return self._query(sql, params)[1]

    def _frame(self, sql: str | pgsql.Composable, params: dict[str, Any] | None = None) -> pd.DataFrame:
        columns, rows = self._query(sql, params)
        return pd.DataFrame.from_records(rows, columns=columns)

    def ping(self) -> float:
        """Round trip of `SELECT 1` in ms."""
        started = time.perf_counter()
        self._query("SELECT 1")
        return (time.perf_counter() - started) * 1000.0

    def bars(self, key: str, window: TimeWindow, bucket_s: int, interval: str = "1s") -> pd.DataFrame:
        """Bars of one symbol in the window, aggregated to `bucket_s` (1 = as stored), indexed by
        bucket start (UTC), oldest first."""
        exchange, symbol = split_record_key(key)
        params = {
            "exchange": exchange,
            "symbol": symbol,
            "interval": interval,
            "start": window.start,
            "end": window.end,
            "bucket": bucket_s,
        }
        frame = self._frame(RAW_BARS_SQL if bucket_s <= 1 else BUCKETED_BARS_SQL, params)
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        return frame.set_index("time").astype("float64")

    def metric_series(
        self,
        key: str,
        window: TimeWindow,
        bucket_s: int,
        means: Sequence[str] = (),
        ranges: Sequence[str] = (),
        all_true: Sequence[str] = (),
    ) -> pd.DataFrame:
        """Stored metrics of one symbol in the window, one row per `bucket_s` (indexed by bucket
        start, UTC, oldest first): the mean of each column of `means`; `<c>_mean`, `<c>_min`,
        `<c>_max` of each of `ranges`; for each boolean column of `all_true`, whether it held in
        every update of the bucket (NULLs ignored). Column names come from MetricColumns, which
        holds them against the schema; they are quoted as identifiers."""
        exchange, symbol = split_record_key(key)
        parts: list[pgsql.Composable] = []
        for column in means:
            parts.append(pgsql.SQL("avg({c}) AS {c}").format(c=pgsql.Identifier(column)))
        for column in ranges:
            for how in ("avg", "min", "max"):
                name = f"{column}_{'mean' if how == 'avg' else how}"
                parts.append(
                    pgsql.SQL(how + "({c}) AS {n}").format(
                        c=pgsql.Identifier(column), n=pgsql.Identifier(name)
                    )
                )
        for column in all_true:
            parts.append(pgsql.SQL("bool_and({c}) AS {c}").format(c=pgsql.Identifier(column)))
        query = pgsql.SQL(METRIC_SERIES_SQL).format(
            bucket=pgsql.Placeholder("bucket"),
            aggregates=pgsql.SQL(", ").join(parts),
            exchange=pgsql.Placeholder("exchange"),
            symbol=pgsql.Placeholder("symbol"),
            start=pgsql.Placeholder("start"),
            end=pgsql.Placeholder("end"),
        )
        params = {
            "exchange": exchange,
            "symbol": symbol,
            "start": window.start,
            "end": window.end,
            "bucket": max(1, bucket_s),
        }
        frame = self._frame(query, params)
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        frame = frame.set_index("time")
        numeric = [c for c in frame.columns if c not in set(all_true)]
        frame[numeric] = frame[numeric].astype("float64")
        return frame

    def snapshots(self, key: str, window: TimeWindow, bucket_s: int) -> pd.DataFrame:
        """The first book snapshot of every `bucket_s` of the window (heatmap columns)."""
        exchange, symbol = split_record_key(key)
        params = {
            "exchange": exchange,
            "symbol": symbol,
            "start": window.start,
            "end": window.end,
            "bucket": bucket_s,
        }
        return self._frame(SAMPLED_SNAPSHOTS_SQL, params)

    def alerts(
        self,
        window: TimeWindow,
        *,
        keys: Sequence[str] = (),
        severities: Sequence[str] = (),
        alert_types: Sequence[str] = (),
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of alerts (newest first) and the total count that match the filters."""
        where = ALERTS_WHERE.format(join=SYMBOLS_JOIN if keys else "")
        params: dict[str, Any] = {
            "start": window.start,
            "end": window.end,
            "severities": list(severities),
            "types": list(alert_types),
            "limit": limit,
            "offset": offset,
            **_pairs(keys),
        }
        cols = ", ".join(f"a.{c.strip()}" for c in ALERT_COLUMNS.split(","))
        columns, rows = self._query(
            f"SELECT {cols} {where} ORDER BY a.ts DESC, a.alert_id LIMIT %(limit)s OFFSET %(offset)s", params
        )
        _, count = self._query(f"SELECT count(*) {where}", params)
        return [dict(zip(columns, row, strict=True)) for row in rows], int(count[0][0])

    def latest_metrics(self, keys: Sequence[str], since: datetime) -> dict[str, dict[str, Any]]:
        """The newest stored metrics row per symbol (the overview's fallback when Redis is down)."""
        if not keys:
            return {}
        columns, rows = self._query(LATEST_METRICS_SQL, {"since": since, **_pairs(keys)})
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        return {record_key(r["exchange"], r["symbol"]): r for r in records}

    def last_alerts(self, keys: Sequence[str], since: datetime) -> dict[str, dict[str, Any]]:
        if not keys:
            return {}
        columns, rows = self._query(LAST_ALERTS_SQL, {"since": since, **_pairs(keys)})
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        return {record_key(r["exchange"], r["symbol"]): r for r in records}

    def known_symbols(self, since: datetime) -> list[str]:
        """`exchange:symbol` of every symbol with a 1 s bar since `since`."""
        _, rows = self._query(KNOWN_SYMBOLS_SQL, {"since": since})
        return [row[0] for row in rows]

    def export(self, kind: str, key: str, window: TimeWindow, max_rows: int) -> pd.DataFrame:
        """Rows of one symbol and time range for download; at most `max_rows` (+1 so the caller
        can tell the export was cut)."""
        table, time_col, extra = EXPORTS[kind]
        exchange, symbol = split_record_key(key)
        sql = (
            f"SELECT * FROM {table} WHERE exchange = %(exchange)s AND symbol = %(symbol)s {extra} "
            f"AND {time_col} >= %(start)s AND {time_col} < %(end)s ORDER BY {time_col} LIMIT %(limit)s"
        )
        params = {
            "exchange": exchange,
            "symbol": symbol,
            "start": window.start,
            "end": window.end,
            "limit": max_rows + 1,
        }
        return self._frame(sql, params)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
