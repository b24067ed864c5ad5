"""The trade_bars job's logic: `trades.raw` Table -> `trades.bars` Table, in SQL (the JVM; no
Python per trade). OHLCV bars of 1 s, 1 min and 5 min per exchange:symbol in event-time tumbling
windows aligned to the epoch, with exact DECIMAL sums.

Lateness. A bar is emitted once when the watermark passes its end; a trade that arrives after that
but within the allowed lateness is added to its bar and the bar is emitted again, updated (Flink's
group windows with late firing give a changelog: +I, then -U/+U per late trade). `bar_versions`
turns it into one record per version (the retractions dropped) for the append-only Kafka sink;
the sinks upsert on (exchange, symbol, interval, window_start). Kafka's upsert connector is no
way out: the topic's key is exchange:symbol, not the bar, and with a key that is not the bar's
the planner keeps the retractions, which it writes as tombstones of the symbol's key. A trade later than that is
refused before any window sees it (`too_late_reason`, routed to orderbook.dlq by the pipeline),
never dropped silently by a window. One rule for all three intervals, that of the 1 s bar: a
trade is accepted while the watermark has not passed the end of its 1 s bar plus the allowed
lateness, and an accepted trade counts in all three, so a 1 min bar is always the sum of its 1 s
bars. The refusal is decided on the watermark the trade meets at the source; the windows meet the
same or an older one (with several inputs a window's watermark is their minimum), so a trade
accepted there is never late for its window.

Open and close are the prices of the first and last trade by event time, then trade id (numeric
ids compare as numbers: they are left-padded), not by arrival, so a late trade moves them only if
it is earlier or later than the others. Prices and sizes arrive as exact decimal texts
(schemas/trades.raw) and are summed as DECIMAL(18,10) x DECIMAL(19,9) products into
DECIMAL(38,19): exact; the VWAP is the ratio of the two exact sums as a DOUBLE."""

from __future__ import annotations

from typing import Any

from pyflink.table import StreamTableEnvironment, Table

from flink_jobs.connectors import KEY_COLUMN, ROWTIME, schema_columns
from flink_jobs.sql_building import query, table_env
from schemas import Topic

# interval label of the schema -> bar length, ms (whole seconds: TUMBLE takes them as intervals)
TRADE_BAR_INTERVALS_MS = {"1s": 1_000, "1m": 60_000, "5m": 300_000}
# How long after its end a bar still takes late trades (and is emitted again for each). A constant
# until the job has settings of its own: config/settings.py is being reshaped by other work.
ALLOWED_LATENESS_MS = 10_000
# The bar whose end (plus the allowed lateness) decides whether a trade is accepted.
ACCEPTANCE_BAR_MS = min(TRADE_BAR_INTERVALS_MS.values())
PRICE_TYPE = "DECIMAL(18, 10)"
SIZE_TYPE = "DECIMAL(19, 9)"
# Trade ids (at most 40 characters, schemas/trades.raw) left-padded to this width order
# numerically when they are digits (Binance, OKX).
_ID_WIDTH = 40
# event_time (ms, 13 digits until the year 2286) and trade id: the order key of open and close.
_ORDER_KEY = f"LPAD(CAST(`event_time` AS STRING), 13, '0') || LPAD(`trade_id`, {_ID_WIDTH}, '0')"
# The Python step's bundles (bar_versions): up to 1000 versions or 20 ms, whichever comes first.
BAR_VERSION_BUNDLES = {"python.fn-execution.bundle.size": "1000", "python.fn-execution.bundle.time": "20"}
# The DLQ reason's kind for a refused trade (`<kind>: <detail>` like the format's reasons).
TOO_LATE = "too late"


def lateness_options(lateness_ms: int) -> dict[str, str]:
    """The table options that make group windows fire again for each trade within the lateness.
    Experimental in Flink, and refused by window TVF aggregations: only this job sets them."""
    return {
        "table.exec.emit.allow-lateness": f"{lateness_ms} ms",
        "table.exec.emit.late-fire.enabled": "true",
        "table.exec.emit.late-fire.delay": "0 s",
    }


def too_late_reason(lateness_ms: int) -> str:
    """SQL over a trades source (event_time and the rowtime): NULL when the trade is accepted,
    else why not. The 1 s bar of the trade is closed for updates once the watermark reaches its
    last millisecond plus the lateness (Flink's window clean-up time), which is when a window
    would drop it; CURRENT_WATERMARK is NULL before the first watermark (nothing is late then)."""
    size = ACCEPTANCE_BAR_MS
    start = f"(`event_time` - MOD(`event_time`, {size}))"
    closed = f"TO_TIMESTAMP_LTZ({start} + {size - 1 + lateness_ms}, 3)"
    return (
        f"CASE WHEN CURRENT_WATERMARK(`{ROWTIME}`) >= {closed} THEN "
        f"'{TOO_LATE}: trade at event_time ' || CAST(`event_time` AS STRING) || ' belongs to the 1s bar "
        f"starting ' || CAST({start} AS STRING) || ', closed for updates (allowed lateness {lateness_ms} ms) "
        f"before the watermark ' || CAST(CURRENT_WATERMARK(`{ROWTIME}`) AS STRING) END"
    )


def accepted_trades(trades: Table, lateness_ms: int) -> Table:
    """The trades no bar refuses, with exact DECIMAL price, size and the order key."""
    return query(
        trades,
        f"""
        SELECT `exchange`, `market`, `symbol`, `event_time`, `side`, `{ROWTIME}`,
          CAST(`price` AS {PRICE_TYPE}) AS px, CAST(`size` AS {SIZE_TYPE}) AS qty,
          {_ORDER_KEY} || '|' || `price` AS order_px
        FROM {{src}} WHERE ({too_late_reason(lateness_ms)}) IS NULL
        """,
    )


def refused_trades(trades: Table, lateness_ms: int) -> Table:
    """The trades refused as too late, with the reason (what the pipeline sends to the DLQ)."""
    return query(
        trades,
        f"SELECT *, {too_late_reason(lateness_ms)} AS reason FROM {{src}}"
        f" WHERE ({too_late_reason(lateness_ms)}) IS NOT NULL",
    )


def _price_of(order_px: str) -> str:
    """The price text after the order key, as the DECIMAL it was."""
    return f"CAST(SUBSTRING({order_px} FROM {13 + _ID_WIDTH + 2}) AS {PRICE_TYPE})"


def _decimal_text(expr: str) -> str:
    return f"CAST({expr} AS STRING)"


def trade_bars_table(trades: Table, lateness_ms: int) -> Table:
    """Bars of every interval of TRADE_BAR_INTERVALS_MS (a changelog: see the module docstring).
    Sets the lateness options on the Table's environment: they apply to this job's windows."""
    config = table_env(trades).get_config()
    for key, value in lateness_options(lateness_ms).items():
        config.set(key, value)
    accepted = accepted_trades(trades, lateness_ms)
    buy = f"SUM(CASE WHEN `side` = 'buy' THEN qty ELSE CAST(0 AS {SIZE_TYPE}) END)"
    sell = f"SUM(CASE WHEN `side` = 'sell' THEN qty ELSE CAST(0 AS {SIZE_TYPE}) END)"
    # One sum of signed sizes, not buy - sell: the difference of two DECIMAL(38, 9) would be
    # DECIMAL(38, 8) (Flink keeps the precision at 38 by dropping a decimal).
    delta = "SUM(CASE WHEN `side` = 'buy' THEN qty ELSE -qty END)"
    selects = []
    for label, size in TRADE_BAR_INTERVALS_MS.items():
        start = f"(MIN(`event_time`) - MOD(MIN(`event_time`), {size}))"
        selects.append(
            f"""
            SELECT `exchange` || ':' || `symbol` AS `{KEY_COLUMN}`, 1 AS schema_version,
              `exchange`, `market`, `symbol`, '{label}' AS `interval`,
              {start} AS window_start, {start} + {size} AS window_end,
              {_decimal_text(_price_of("MIN(order_px)"))} AS `open`,
              {_decimal_text("MAX(px)")} AS `high`, {_decimal_text("MIN(px)")} AS `low`,
              {_decimal_text(_price_of("MAX(order_px)"))} AS `close`,
              {_decimal_text("SUM(qty)")} AS volume,
              {_decimal_text("SUM(px * qty)")} AS quote_volume,
              CAST(SUM(px * qty) AS DOUBLE) / CAST(SUM(qty) AS DOUBLE) AS vwap,
              COUNT(*) AS trade_count,
              {_decimal_text(buy)} AS buy_volume, {_decimal_text(sell)} AS sell_volume,
              {_decimal_text(delta)} AS volume_delta
            FROM {{src}}
            GROUP BY `exchange`, `market`, `symbol`, TUMBLE(`{ROWTIME}`, INTERVAL '{size // 1000}' SECOND(3))
            """
        )
    return query(accepted, "\nUNION ALL\n".join(selects))


def _version(row: Any) -> Any:
    """One bar version per insert or update of the changelog; retractions carry nothing new."""
    from pyflink.common import Row, RowKind

    if row.get_row_kind() in (RowKind.INSERT, RowKind.UPDATE_AFTER):
        yield Row(*row)


def bar_versions(bars: Table) -> Table:
    """The bars' changelog as an append-only Table of versions, in the order they were emitted.
    A Python operator, but per bar version (a few per symbol and second), not per trade: the
    environment must be a StreamTableEnvironment (JobDefinition.stream_env)."""
    from pyflink.common.typeinfo import Types

    t_env = table_env(bars)
    if not isinstance(t_env, StreamTableEnvironment):
        raise TypeError("bar_versions needs a StreamTableEnvironment")
    # Bundles of many versions, not the environment's bundles of one (flink_jobs/environment.py:
    # kept for operators whose output's watermarks matter): nothing after this step reads event
    # time, and a round trip to the Python worker per version was the job's bottleneck. The
    # hazard of such bundles (a watermark held in an open bundle is dropped when the input turns
    # idle) reaches only the sink's watermark metric here, until the input flows again: the bars
    # themselves are closed by the windows before this step.
    for key, value in BAR_VERSION_BUNDLES.items():
        t_env.get_config().set(key, value)
    kinds = {"STRING": Types.STRING(), "INT": Types.INT(), "BIGINT": Types.LONG(), "DOUBLE": Types.DOUBLE()}
    columns = [(KEY_COLUMN, "STRING"), *schema_columns(Topic.TRADE_BARS)]
    ordered = query(bars, "SELECT " + ", ".join(f"`{n}`" for n, _ in columns) + " FROM {src}")
    row_type = Types.ROW_NAMED([n for n, _ in columns], [kinds[t] for _, t in columns])
    versions = t_env.to_changelog_stream(ordered).flat_map(_version, output_type=row_type)
    return t_env.from_data_stream(versions)
