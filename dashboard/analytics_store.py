"""Queries of the Analytics page: trade bars (table trade_bars), pair analytics (table
pair_analytics) and, for export, raw trades (table trades) of init-db.sql, always for one symbol or
pair and a bounded time range through the tables' keys, with a row cap (the newest rows are kept,
and the caller is told when the cap cut).

A subclass of HistoryStore for its one guarded connection and its "database down" behaviour; a
separate store (its own connection) so a long export never holds the lock the other pages wait on.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from dashboard.history_store import HistoryStore, known_keys_sql
from dashboard.time_window import TimeWindow
from schemas import split_record_key

TRADE_BAR_INTERVALS = ("1s", "1m", "5m")
TRADE_BAR_COLUMNS = (
    "open",
    "high",
    "low",
    "close",
    "volume",
    "quote_volume",
    "vwap",
    "trade_count",
    "buy_volume",
    "sell_volume",
    "volume_delta",
)
PAIR_COLUMNS = (
    "y_close",
    "x_close",
    "y_fill_age_ms",
    "x_fill_age_ms",
    "points",
    "beta",
    "alpha",
    "r_squared",
    "spread",
    "spread_mean",
    "spread_std",
    "zscore",
    "return_corr",
    "half_life_s",
    "adf_stat",
    "adf_pvalue",
    "adf_lags",
    "adf_time",
)

# The newest `limit` rows of the window (DESC on the key's index), turned oldest-first in pandas.
TRADE_BARS_SQL = f"""
SELECT window_start AS time, {", ".join(TRADE_BAR_COLUMNS)}
FROM trade_bars
WHERE exchange = %(exchange)s AND symbol = %(symbol)s AND "interval" = %(interval)s
  AND window_start >= %(start)s AND window_start < %(end)s
ORDER BY window_start DESC
LIMIT %(limit)s
"""

PAIR_ANALYTICS_SQL = f"""
SELECT ts AS time, {", ".join(PAIR_COLUMNS)}
FROM pair_analytics
WHERE pair = %(pair)s AND ts >= %(start)s AND ts < %(end)s
ORDER BY ts DESC
LIMIT %(limit)s
"""

TRADE_SYMBOLS_SQL = known_keys_sql("trade_bars", "1m")

# The exchange:symbol keys of the trades table with a trade since %(since)s: a loose index scan
# over trades_key's leading (exchange, symbol), as known_keys_sql does for the bars tables.
TRADED_SYMBOLS_SQL = """
WITH RECURSIVE k AS (
    (SELECT exchange, symbol FROM trades ORDER BY exchange, symbol LIMIT 1)
    UNION ALL
    SELECT n.exchange, n.symbol
    FROM k CROSS JOIN LATERAL (
        SELECT t.exchange, t.symbol FROM trades t
        WHERE (t.exchange, t.symbol) > (k.exchange, k.symbol)
        ORDER BY t.exchange, t.symbol
        LIMIT 1
    ) AS n
)
SELECT exchange || ':' || symbol AS key FROM k
WHERE EXISTS (SELECT 1 FROM trades t WHERE t.exchange = k.exchange AND t.symbol = k.symbol AND t.ts >= %(since)s)
ORDER BY 1
"""

PAIRS_SQL = """
WITH RECURSIVE k AS (
    (SELECT pair FROM pair_analytics ORDER BY pair LIMIT 1)
    UNION ALL
    SELECT n.pair
    FROM k CROSS JOIN LATERAL (
        SELECT p.pair FROM pair_analytics p WHERE p.pair > k.pair ORDER BY p.pair LIMIT 1
    ) AS n
)
SELECT pair FROM k
WHERE EXISTS (SELECT 1 FROM pair_analytics p WHERE p.pair = k.pair AND p.ts >= %(since)s)
ORDER BY 1
"""


EXPORT_TRADES = "trades"
EXPORT_PAIRS = "pair analytics"
# Export name -> trade bar interval, or None for the raw trades and the pair analytics.
EXPORT_KINDS: dict[str, str | None] = (
    {EXPORT_TRADES: None} | {f"trade bars {i}": i for i in TRADE_BAR_INTERVALS} | {EXPORT_PAIRS: None}
)
EXPORT_TRADES_SQL = """
SELECT * FROM trades
WHERE exchange = %(exchange)s AND symbol = %(symbol)s AND ts >= %(start)s AND ts < %(end)s
ORDER BY ts, trade_id
LIMIT %(limit)s
"""
EXPORT_TRADE_BARS_SQL = """
SELECT * FROM trade_bars
WHERE exchange = %(exchange)s AND symbol = %(symbol)s AND "interval" = %(interval)s
  AND window_start >= %(start)s AND window_start < %(end)s
ORDER BY window_start
LIMIT %(limit)s
"""
EXPORT_PAIRS_SQL = """
SELECT * FROM pair_analytics
WHERE pair = %(pair)s AND ts >= %(start)s AND ts < %(end)s
ORDER BY ts
LIMIT %(limit)s
"""


class AnalyticsStore(HistoryStore):
    def trade_bars(self, key: str, interval: str, window: TimeWindow, limit: int) -> pd.DataFrame:
        """Stored trade bars of one symbol and interval, indexed by window start (UTC), oldest
        first: the newest `limit` of the window. Numerics as float (for charts)."""
        if interval not in TRADE_BAR_INTERVALS:
            raise ValueError(f"unknown trade bar interval {interval!r}")
        exchange, symbol = split_record_key(key)
        params = {
            "exchange": exchange,
            "symbol": symbol,
            "interval": interval,
            "start": window.start,
            "end": window.end,
            "limit": limit,
        }
        frame = self._frame(TRADE_BARS_SQL, params)
        if frame.empty:
            frame = pd.DataFrame(columns=["time", *TRADE_BAR_COLUMNS])
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        return frame.set_index("time").sort_index().astype("float64")

    def pair_analytics(self, pair: str, window: TimeWindow, limit: int) -> pd.DataFrame:
        """Stored pair analytics of one pair, indexed by the aligned second (UTC), oldest first:
        the newest `limit` of the window. NULL statistics are NaN; adf_time a UTC timestamp."""
        params = {"pair": pair, "start": window.start, "end": window.end, "limit": limit}
        frame = self._frame(PAIR_ANALYTICS_SQL, params)
        if frame.empty:
            frame = pd.DataFrame(columns=["time", *PAIR_COLUMNS])
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        frame["adf_time"] = pd.to_datetime(frame["adf_time"], utc=True)
        numeric = [c for c in PAIR_COLUMNS if c != "adf_time"]
        frame[numeric] = frame[numeric].astype("float64")
        return frame.set_index("time").sort_index()

    def trade_symbols(self, since: datetime) -> list[str]:
        """`exchange:symbol` of every symbol with a 1 min trade bar since `since`."""
        _, rows = self._query(TRADE_SYMBOLS_SQL, {"since": since})
        return [row[0] for row in rows]

    def traded_symbols(self, since: datetime) -> list[str]:
        """`exchange:symbol` of every symbol with a stored trade since `since`."""
        _, rows = self._query(TRADED_SYMBOLS_SQL, {"since": since})
        return [row[0] for row in rows]

    def pairs(self, since: datetime) -> list[str]:
        """Pair ids (`y/x`) with analytics since `since`."""
        _, rows = self._query(PAIRS_SQL, {"since": since})
        return [row[0] for row in rows]

    def export_rows(self, kind: str, subject: str, window: TimeWindow, max_rows: int) -> pd.DataFrame:
        """Whole stored rows (exact numerics as Decimal) of one kind of EXPORT_KINDS for one
        symbol or pair and time range, oldest first; at most `max_rows` + 1, so the caller can
        tell the export was cut."""
        if kind not in EXPORT_KINDS:
            raise ValueError(f"unknown export {kind!r}: one of {', '.join(EXPORT_KINDS)}")
        interval = EXPORT_KINDS[kind]
        params = {"start": window.start, "end": window.end, "limit": max_rows + 1}
        if kind == EXPORT_PAIRS:
            sql = EXPORT_PAIRS_SQL
            params["pair"] = subject
        else:
            exchange, symbol = split_record_key(subject)
            params |= {"exchange": exchange, "symbol": symbol}
            sql = EXPORT_TRADES_SQL if kind == EXPORT_TRADES else EXPORT_TRADE_BARS_SQL
            if interval is not None:
                params["interval"] = interval
        return self._frame(sql, params)
