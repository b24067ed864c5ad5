"""The windows job's logic: `orderbook.processed` Table -> `orderbook.bars` Table. Tumbling
event-time windows per symbol (1 s and 1 min, the two intervals of the bars schema): OHLC of mid,
mean/min/max of imbalance, mean/max spread in bps, summed top-level OFI, update count and the
last microprice. Window TVFs emit each bar once, when the watermark passes its end."""

from __future__ import annotations

from pyflink.table import Table

from config import MetricsJobSettings
from flink_jobs.connectors import KEY_COLUMN
from flink_jobs.sql_building import query

# interval label of the schema -> window size
BAR_INTERVALS = {"1s": "INTERVAL '1' SECOND", "1m": "INTERVAL '1' MINUTE"}
EPOCH = "TIMESTAMP '1970-01-01 00:00:00'"


def bars_table(processed: Table, settings: MetricsJobSettings | None = None) -> Table:
    """Bars of every interval in BAR_INTERVALS. Open and close are the first and last mid in
    arrival order, which is event-time order per symbol on orderbook.processed (the metrics job
    writes each key in order). Imbalance is the top-N one the baselines follow."""
    imbalance = f"imbalance_{(settings or MetricsJobSettings()).baseline_imbalance_level}"
    selects = []
    for label, size in BAR_INTERVALS.items():
        # windows of whole seconds: TIMESTAMPDIFF in seconds is exact (session time zone UTC)
        start_ms = f"TIMESTAMPDIFF(SECOND, {EPOCH}, window_start) * CAST(1000 AS BIGINT)"
        end_ms = f"TIMESTAMPDIFF(SECOND, {EPOCH}, window_end) * CAST(1000 AS BIGINT)"
        selects.append(
            f"""
            SELECT `exchange` || ':' || `symbol` AS `{KEY_COLUMN}`, 1 AS schema_version,
              `exchange`, `market`, `symbol`, '{label}' AS `interval`,
              {start_ms} AS window_start, {end_ms} AS window_end,
              FIRST_VALUE(mid) AS mid_open, MAX(mid) AS mid_high, MIN(mid) AS mid_low,
              LAST_VALUE(mid) AS mid_close,
              AVG({imbalance}) AS imbalance_mean, MIN({imbalance}) AS imbalance_min,
              MAX({imbalance}) AS imbalance_max,
              AVG(spread_bps) AS spread_bps_mean, MAX(spread_bps) AS spread_bps_max,
              SUM(ofi_1) AS ofi_sum, COUNT(*) AS update_count,
              LAST_VALUE(microprice) AS microprice_last
            FROM TABLE(TUMBLE(TABLE {{src}}, DESCRIPTOR(`rt`), {size}))
            GROUP BY window_start, window_end, `exchange`, `market`, `symbol`
            """
        )
    return query(processed, "\nUNION ALL\n".join(selects))
