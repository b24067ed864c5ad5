"""The metrics job's logic: `orderbook.raw` Table -> `orderbook.processed` Table, one output row
per book update (definitions and sources in docs/metrics.md).

Everything one book determines is Flink SQL: a stateless stage that reads each level once into a
plain column, and one that forms the per-book sums. The stateful metrics (order flow imbalance
against the previous update, velocity, the rolling baselines) are one keyed operator, the Java
process table function in flink_jobs/java, called from SQL and partitioned by exchange and
symbol (the `exchange:symbol` key of the topics); the ratios and z-scores are SQL again after it.
Until 2026-11 these were three SQL OVER stages; the function replaced them for 2.5x the
throughput (docs/benchmarks.md, Flink jobs)."""

from __future__ import annotations

from pyflink.table import Table

from config import MetricsJobSettings
from flink_jobs.connectors import KEY_COLUMN, schema_columns
from flink_jobs.sql_building import query, safe_ratio, sql_double, table_env
from schemas import Topic

# The Java process table function of the stateful metrics (flink_jobs/java).
FLOW_FUNCTION = "obm_book_flow"
FLOW_CLASS = "io.orderbookmonitor.flink.BookFlowFunction"
# The flow function's state name in savepoints, changed with the layout of its state so that an old
# savepoint never restores into a new layout: the job resumes with --allowNonRestoredState and the
# windows refill (60 s). 3: the window moments as one array of shifted double-double sums (2 held
# them as nested rows, 1 as Σx and Σx²).
FLOW_UID = "obm-book-flow-3"
SUMS_FUNCTION = "obm_book_sums"
SUMS_CLASS = "io.orderbookmonitor.flink.BookSumsFunction"


def depth_suffix(pct: float) -> str:
    """Depth within 0.1% of mid is published as `…_10bps`."""
    return f"{round(pct * 100)}bps"


def output_fields(settings: MetricsJobSettings) -> list[str]:
    """The processed fields these settings produce; each must exist in the topic's schema."""
    fields = [f"imbalance_{n}" for n in settings.imbalance_levels]
    for pct in settings.depth_pcts:
        fields += [f"depth_{kind}_{depth_suffix(pct)}" for kind in ("bid", "ask", "complete")]
    fields += ["ofi_1", f"ofi_{settings.ofi_levels}"]
    return fields


def check_settings(settings: MetricsJobSettings) -> None:
    """Fail at plan time, not in the sink, when the settings ask for a field the contract lacks."""
    known = {name for name, _ in schema_columns(Topic.PROCESSED)}
    unknown = [f for f in output_fields(settings) if f not in known]
    if unknown:
        raise ValueError(
            f"fields {unknown} are not in the orderbook.processed schema; change the schema first"
        )
    if max(*settings.imbalance_levels, settings.vtob_levels, settings.ofi_levels) > settings.book_levels:
        raise ValueError("imbalance, VTOB and OFI levels cannot exceed book_levels")
    if settings.ofi_levels < 2:
        raise ValueError("ofi_levels must be at least 2 (ofi_1 is always published)")
    if settings.baseline_imbalance_level not in settings.imbalance_levels:
        raise ValueError("baseline_imbalance_level must be one of imbalance_levels")


def _register(table: Table, name: str, java_class: str) -> None:
    table_env(table).execute_sql(
        f"CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS {name} AS '{java_class}' LANGUAGE JAVA"
    )


def _array(values: list[float]) -> str:
    return "ARRAY[" + ", ".join(sql_double(v) for v in values) + "]"


def _book_stage(raw: Table, settings: MetricsJobSettings) -> Table:
    """Best levels, mid, the top `ofi_levels` levels for the flow stage (as `flow_…` columns, which
    it consumes) and `book`: the sums over levels from the Java scalar function
    `io.orderbookmonitor.flink.BookSumsFunction` (cumulative sizes per side, distance-weighted
    sizes, size within each depth band, band completeness). The same sums in SQL read every level
    into a column and took ~250 generated expressions: more CPU than decoding the record."""
    _register(raw, SUMS_FUNCTION, SUMS_CLASS)
    flow_levels = []
    for i in range(1, settings.ofi_levels + 1):
        flow_levels += [
            f"`bid_prices`[{i}] AS flow_b_p{i}",
            f"`bid_sizes`[{i}] AS flow_b_q{i}",
            f"`ask_prices`[{i}] AS flow_a_p{i}",
            f"`ask_sizes`[{i}] AS flow_a_q{i}",
        ]
    lows = _array([1 - pct / 100 for pct in settings.depth_pcts])
    highs = _array([1 + pct / 100 for pct in settings.depth_pcts])
    sums = (
        f"{SUMS_FUNCTION}(`bid_prices`, `bid_sizes`, `ask_prices`, `ask_sizes`, {settings.book_levels},"
        f" {sql_double(settings.weighted_imbalance_lambda)}, {lows}, {highs})"
    )
    return query(
        raw,
        f"""
        SELECT `exchange`, `market`, `symbol`, `event_time`, `receive_time_ns`, `sequence_id`,
          `crossed`, `resynced`,
          CASE WHEN `bid_prices`[1] IS NOT NULL AND `ask_prices`[1] IS NOT NULL
               THEN (`bid_prices`[1] + `ask_prices`[1]) / 2 END AS mid,
          `bid_prices`[1] AS b_p1, `bid_sizes`[1] AS b_q1, `ask_prices`[1] AS a_p1, `ask_sizes`[1] AS a_q1,
          {", ".join(flow_levels)}, {sums} AS book
        FROM {{src}}
        """,
    )


def _per_book_stage(book: Table, settings: MetricsJobSettings) -> Table:
    """Every metric one book determines, from the best levels and the `book` sums, plus the flow
    columns; computed before the keyed exchange so that only the results cross it. (The `book`
    function is declared non-deterministic so that this projection is not merged into the
    previous one, which would call it once per use.)"""

    def summed(field: str, index: int) -> str:
        # an element of a NULL array field of the function's row reads as -1.0 in Flink 2.2.1's
        # generated code, not NULL: hence the CASE (NULL when there is no mid, docs/metrics.md)
        return f"(CASE WHEN mid IS NOT NULL THEN book.{field}[{index}] END)"

    def imbalance(bid: str, ask: str) -> str:
        return safe_ratio(f"{bid} - {ask}", f"{bid} + {ask}")

    microprice = (
        f"(CASE WHEN mid IS NOT NULL THEN {safe_ratio('a_p1 * b_q1 + b_p1 * a_q1', 'b_q1 + a_q1')} END)"
    )
    # microprice - mid = spread * (Qb - Qa) / (2 (Qb + Qa)): the same value without subtracting
    # two prices that agree to 6-7 digits (docs/metrics.md)
    microprice_lean = (
        "(CASE WHEN mid IS NOT NULL THEN "
        f"{safe_ratio('(a_p1 - b_p1) * (b_q1 - a_q1)', '2 * (b_q1 + a_q1) * mid')} END)"
    )
    vtob_total = f"{summed('cum_bid', settings.vtob_levels)} + {summed('cum_ask', settings.vtob_levels)}"
    cols = [
        "b_p1 AS best_bid, a_p1 AS best_ask, b_q1 AS best_bid_size, a_q1 AS best_ask_size",
        "CASE WHEN mid IS NOT NULL THEN a_p1 - b_p1 END AS spread",
        f"{safe_ratio('a_p1 - b_p1', 'mid')} * 10000 AS spread_bps",
        f"{microprice} AS microprice",
        f"{microprice_lean} * 10000 AS microprice_lean_bps",
        f"{imbalance('book.wsum_bid', 'book.wsum_ask')} AS weighted_imbalance",
        f"{safe_ratio('b_q1 + a_q1', vtob_total)} AS vtob_ratio",
        *(f"flow_{c}" for c in _ofi_columns(settings)),
    ]
    for n in settings.imbalance_levels:
        cols.append(f"{imbalance(summed('cum_bid', n), summed('cum_ask', n))} AS imbalance_{n}")
    for k, pct in enumerate(settings.depth_pcts, start=1):
        sfx = depth_suffix(pct)
        cols.append(f"{summed('depth_bid', k)} AS depth_bid_{sfx}")
        cols.append(f"{summed('depth_ask', k)} AS depth_ask_{sfx}")
        cols.append(f"{summed('depth_complete', k)} AS depth_complete_{sfx}")
    keep = "`exchange`, `market`, `symbol`, `event_time`, `receive_time_ns`, `sequence_id`, `crossed`, `resynced`, mid"
    return query(book, f"SELECT {keep}, " + ",\n".join(cols) + " FROM {src}")


def _ofi_columns(settings: MetricsJobSettings) -> list[str]:
    return [f"{side}_{kind}{i}" for i in range(1, settings.ofi_levels + 1) for side in "ba" for kind in "pq"]


def _flow_stage(per_book: Table, settings: MetricsJobSettings) -> Table:
    """Order flow imbalance, velocity and the baselines' mean, std and z-scores, per
    `exchange:symbol`, in one keyed operator: the Java process table function
    `io.orderbookmonitor.flink.BookFlowFunction` (flink_jobs/java), which keeps each window as
    a log in keyed state and costs O(1) per update. Flink's event-time RANGE OVER scanned every
    timestamp of the window per update (30% of the job's CPU at 60 s) and each OVER was a keyed
    exchange of its own; the function is one. It also processes a key's updates in arrival order,
    so an update leaves as soon as it arrives instead of waiting for the watermark, and none is
    ever late (no `on_time`: see metrics_table)."""
    _register(per_book, FLOW_FUNCTION, FLOW_CLASS)
    return query(
        per_book,
        f"""
        SELECT * FROM {FLOW_FUNCTION}(
          input => TABLE {{src}} PARTITION BY (`exchange`, `symbol`),
          ofi_levels => {settings.ofi_levels},
          imbalance_level => {settings.baseline_imbalance_level},
          velocity_window_ms => CAST({settings.velocity_window_ms} AS BIGINT),
          baseline_window_ms => CAST({settings.baseline_window_ms} AS BIGINT),
          uid => '{FLOW_UID}'
        )
        """,
    )


def metrics_table(raw: Table, settings: MetricsJobSettings) -> Table:
    """Metrics of every update in `raw` (the columns of orderbook.raw).

    The result has every orderbook.processed column and the Kafka key `record_key`, and no time
    attribute: nothing in this job waits for the watermark, and the flow function is called
    without `on_time` because Flink 2.2 drops the rows at or behind the watermark of such a call
    silently (a symbol read behind the others would lose updates; FLINK-39436 changes this after
    2.2). Downstream jobs derive their event time from `event_time` on orderbook.processed."""
    check_settings(settings)
    flow = _flow_stage(_per_book_stage(_book_stage(raw, settings), settings), settings)
    derived = {"schema_version": "1", f"ofi_{settings.ofi_levels}": "ofi_m"}
    flow_columns = set(flow.get_schema().get_field_names())
    select = [f"`exchange` || ':' || `symbol` AS `{KEY_COLUMN}`"]
    for name, sql_type in schema_columns(Topic.PROCESSED):
        if name in derived:
            select.append(f"{derived[name]} AS `{name}`")
        elif name in flow_columns:
            select.append(f"`{name}`")
        else:  # a depth level the settings do not ask for
            select.append(f"CAST(NULL AS {sql_type}) AS `{name}`")
    return query(flow, "SELECT " + ",\n".join(select) + " FROM {src}")
