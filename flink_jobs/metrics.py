"""The metrics job's logic: `orderbook.raw` Table -> `orderbook.processed` Table, one output row
per book update (definitions and sources in docs/metrics.md).

Everything one book determines is Flink SQL: a stateless stage that reads each level once into a
plain column, and one that forms the per-book sums. The stateful metrics (order flow imbalance
against the previous update, velocity, the rolling baselines) are one keyed operator, the Java
process table function in jvm/flink-functions, called from SQL and partitioned by exchange and
symbol (the `exchange:symbol` key of the topics); the ratios and z-scores are SQL again after it.
Until 2026-11 these were three SQL OVER stages; the function replaced them for 2.5x the
throughput (docs/benchmarks.md, Flink jobs)."""

from __future__ import annotations

from pyflink.table import Table

from config import MetricsJobSettings
from flink_jobs.connectors import KEY_COLUMN, ROWTIME, schema_columns
from flink_jobs.sql_building import level_sum, query, safe_ratio, sql_double, table_env
from schemas import Topic

# Below this a standard deviation is rounding noise of SUM(x^2) - SUM(x)^2/n, not dispersion, and
# a z-score over it would be meaningless: z is NULL instead.
STD_FLOOR_REL = 1e-7
STD_FLOOR_ABS = 1e-12
# The Java process table function of the stateful metrics (jvm/flink-functions).
FLOW_FUNCTION = "obm_book_flow"
FLOW_CLASS = "io.orderbookmonitor.flink.BookFlowFunction"
# The time column a process table function called with `on_time` appends to its output.
FLOW_ROWTIME = "rowtime"


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


def _book_stage(raw: Table, settings: MetricsJobSettings) -> Table:
    """Best levels, mid, every level as its own scalar column (`b_p3` = third bid price) and the
    price bounds of each depth band. Array access generates a lot of code per use, and this job
    uses each level many times: read once here, the later stages work on plain columns.

    `RAND() >= 0` (always true) keeps this projection a projection of its own: the planner merges
    adjacent projections by inlining, and would then repeat `mid` and the array reads in each of
    the ~250 places the next stage uses them (measured 1.3x the CPU of the whole job); it does
    not merge into a projection that uses a non-deterministic column more than once."""
    levels = settings.book_levels
    scalars = []
    for i in range(1, levels + 1):
        scalars += [
            f"`bid_prices`[{i}] AS b_p{i}",
            f"`bid_sizes`[{i}] AS b_q{i}",
            f"`ask_prices`[{i}] AS a_p{i}",
            f"`ask_sizes`[{i}] AS a_q{i}",
        ]
    best = query(
        raw,
        f"""
        SELECT `exchange`, `market`, `symbol`, `event_time`, `receive_time_ns`, `sequence_id`,
          `crossed`, `resynced`, `rt`, {", ".join(scalars)},
          CASE WHEN RAND() >= 0 AND `bid_prices`[1] IS NOT NULL AND `ask_prices`[1] IS NOT NULL
               THEN (`bid_prices`[1] + `ask_prices`[1]) / 2 END AS mid,
          `bid_prices`[LEAST(CARDINALITY(`bid_prices`), {levels})] AS bid_deepest,
          `ask_prices`[LEAST(CARDINALITY(`ask_prices`), {levels})] AS ask_deepest
        FROM {{src}}
        """,
    )
    bounds = []
    for pct in settings.depth_pcts:
        sfx = depth_suffix(pct)
        bounds.append(f"mid * {sql_double(1 - pct / 100)} AS depth_lo_{sfx}")
        bounds.append(f"mid * {sql_double(1 + pct / 100)} AS depth_hi_{sfx}")
    return query(best, "SELECT *" + "".join(f", {b}" for b in bounds) + " FROM {src}")


def _ofi_columns(settings: MetricsJobSettings) -> list[str]:
    return [f"{side}_{kind}{i}" for i in range(1, settings.ofi_levels + 1) for side in "ba" for kind in "pq"]


def _weighted_sum(side: str, settings: MetricsJobSettings) -> str:
    lam = sql_double(settings.weighted_imbalance_lambda)
    term = "{s}_q{i} * EXP(-" + lam + " * ABS({s}_p{i} - mid) / mid * 10000)"
    return f"CASE WHEN mid > 0 THEN {level_sum(side, settings.book_levels, term)} END"


def _depth(side: str, pct: float, levels: int) -> str:
    """Size on one side within the band; a missing level fails the comparison and adds 0."""
    sfx = depth_suffix(pct)
    cond = f">= depth_lo_{sfx}" if side == "b" else f"<= depth_hi_{sfx}"
    terms = [f"CASE WHEN {side}_p{i} {cond} THEN {side}_q{i} ELSE 0 END" for i in range(1, levels + 1)]
    return f"CASE WHEN mid IS NOT NULL THEN ({' + '.join(terms)}) END"


def _depth_complete(pct: float) -> str:
    """True when the deepest level read on both sides lies at or beyond X% from mid."""
    sfx = depth_suffix(pct)
    return (
        f"CASE WHEN mid IS NOT NULL THEN bid_deepest <= depth_lo_{sfx} AND ask_deepest >= depth_hi_{sfx} END"
    )


def _sums_stage(book: Table, settings: MetricsJobSettings) -> Table:
    """Everything one book determines, as sums and plain values, plus the top `ofi_levels` levels
    the flow stage needs (as `flow_…` columns, which it consumes); the other level columns are
    dropped here, before the keyed exchange. Ratios of sums come after the flow stage: the planner
    merges adjacent projections, and would inline each sum into both numerator and denominator."""
    microprice = safe_ratio("a_p1 * b_q1 + b_p1 * a_q1", "b_q1 + a_q1")
    cols = [
        "b_p1 AS best_bid, a_p1 AS best_ask, b_q1 AS best_bid_size, a_q1 AS best_ask_size",
        "CASE WHEN mid IS NOT NULL THEN a_p1 - b_p1 END AS spread",
        f"{safe_ratio('a_p1 - b_p1', 'mid')} * 10000 AS spread_bps",
        f"CASE WHEN mid IS NOT NULL THEN {microprice} END AS microprice",
        f"{_weighted_sum('b', settings)} AS wsum_bid",
        f"{_weighted_sum('a', settings)} AS wsum_ask",
        *(f"{c} AS flow_{c}" for c in _ofi_columns(settings)),
    ]
    for n in sorted({*settings.imbalance_levels, settings.vtob_levels}):
        cols.append(f"CASE WHEN mid IS NOT NULL THEN {level_sum('b', n)} END AS sum_bid_{n}")
        cols.append(f"CASE WHEN mid IS NOT NULL THEN {level_sum('a', n)} END AS sum_ask_{n}")
    for pct in settings.depth_pcts:
        sfx = depth_suffix(pct)
        cols.append(f"{_depth('b', pct, settings.book_levels)} AS depth_bid_{sfx}")
        cols.append(f"{_depth('a', pct, settings.book_levels)} AS depth_ask_{sfx}")
        cols.append(f"{_depth_complete(pct)} AS depth_complete_{sfx}")
    keep = "`exchange`, `market`, `symbol`, `event_time`, `receive_time_ns`, `sequence_id`, `crossed`, `resynced`, `rt`, mid"
    return query(book, f"SELECT {keep}, " + ",\n".join(cols) + " FROM {src}")


def _followed(settings: MetricsJobSettings) -> str:
    """The imbalance that velocity, the rolling baselines and the z-scores follow."""
    return f"imbalance_{settings.baseline_imbalance_level}"


def _flow_stage(per_book: Table, settings: MetricsJobSettings) -> Table:
    """Order flow imbalance, velocity and the baseline windows' count, sum and sum of squares, per
    `exchange:symbol`, in one keyed operator: the Java process table function
    `io.orderbookmonitor.flink.BookFlowFunction` (jvm/flink-functions), which keeps each window as
    a log in keyed state and costs O(1) per update. Flink's event-time RANGE OVER scanned every
    timestamp of the window per update (30% of the job's CPU at 60 s) and each OVER was a keyed
    exchange of its own; the function is one. It also processes a key's updates in arrival order,
    so an update leaves as soon as it arrives instead of waiting for the watermark."""
    t_env = table_env(per_book)
    t_env.execute_sql(
        f"CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS {FLOW_FUNCTION} AS '{FLOW_CLASS}' LANGUAGE JAVA"
    )
    return query(
        per_book,
        f"""
        SELECT * FROM {FLOW_FUNCTION}(
          input => TABLE {{src}} PARTITION BY (`exchange`, `symbol`),
          ofi_levels => {settings.ofi_levels},
          imbalance_level => {settings.baseline_imbalance_level},
          velocity_window_ms => CAST({settings.velocity_window_ms} AS BIGINT),
          baseline_window_ms => CAST({settings.baseline_window_ms} AS BIGINT),
          on_time => DESCRIPTOR(`{ROWTIME}`),
          uid => 'obm-book-flow'
        )
        """,
    )


def _stats(prefix: str, x: str, out: str) -> list[str]:
    mean = safe_ratio(f"{prefix}_sum", f"{prefix}_n")
    var = safe_ratio(f"{prefix}_sumsq - {prefix}_sum * {prefix}_sum / {prefix}_n", f"{prefix}_n")
    std = f"SQRT(GREATEST({var}, CAST(0 AS DOUBLE)))"
    floor = f"{sql_double(STD_FLOOR_REL)} * ABS({mean}) + {sql_double(STD_FLOOR_ABS)}"
    return [
        f"{mean} AS {out}_mean",
        f"{std} AS {out}_std",
        f"CASE WHEN {std} > {floor} THEN ({x} - {mean}) / {std} END AS {out}_z",
    ]


def metrics_table(raw: Table, settings: MetricsJobSettings) -> Table:
    """Metrics of every update in `raw` (columns of orderbook.raw plus the `rt` time attribute).

    The result has every orderbook.processed column, the Kafka key `record_key` and `rt`. The
    ratios of the per-book sums are formed after the flow stage: before it, the planner would
    merge them into the sums' projection and inline each sum into numerator and denominator."""
    check_settings(settings)
    flow = _flow_stage(_sums_stage(_book_stage(raw, settings), settings), settings)
    imb = _followed(settings)
    vtob_total = f"sum_bid_{settings.vtob_levels} + sum_ask_{settings.vtob_levels}"
    derived = {
        "schema_version": "1",
        f"ofi_{settings.ofi_levels}": "ofi_m",
        "weighted_imbalance": safe_ratio("wsum_bid - wsum_ask", "wsum_bid + wsum_ask"),
        "vtob_ratio": safe_ratio("best_bid_size + best_ask_size", vtob_total),
        "microprice_lean_bps": f"{safe_ratio('microprice - mid', 'mid')} * 10000",
        **{
            f"imbalance_{n}": safe_ratio(f"sum_bid_{n} - sum_ask_{n}", f"sum_bid_{n} + sum_ask_{n}")
            for n in settings.imbalance_levels
        },
    }
    stats = _stats("s", "spread_bps", "spread_bps") + _stats("i", derived[imb], "imbalance")
    derived |= {c.rsplit(" AS ", 1)[1]: c.rsplit(" AS ", 1)[0] for c in stats}
    flow_columns = set(flow.get_schema().get_field_names())
    select = [f"`exchange` || ':' || `symbol` AS `{KEY_COLUMN}`"]
    for name, sql_type in schema_columns(Topic.PROCESSED):
        if name in derived:
            select.append(f"{derived[name]} AS `{name}`")
        elif name in flow_columns:
            select.append(f"`{name}`")
        else:  # a depth level the settings do not ask for
            select.append(f"CAST(NULL AS {sql_type}) AS `{name}`")
    select.append(f"`{FLOW_ROWTIME}` AS `{ROWTIME}`")
    return query(flow, "SELECT " + ",\n".join(select) + " FROM {src}")
