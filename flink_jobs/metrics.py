"""The metrics job's logic: `orderbook.raw` Table -> `orderbook.processed` Table, one output row
per book update, all in Flink SQL (definitions and sources in docs/metrics.md).

The query is a chain of stages because Flink evaluates every OVER aggregate of one SELECT on the
same window: a stateless stage for everything one book determines, a previous-update stage for
order flow imbalance, an event-time RANGE stage for velocity and one for the rolling baselines.
Every OVER stage is partitioned by exchange and symbol (the `exchange:symbol` key of the topics)
and is a keyed exchange (3 in the plan) that serializes the row and keeps rows in keyed state, so
the row is made narrow before the first one: the 80 level columns end in the stateless stage
(only OFI's top levels go on, once), and every later stage carries one scalar per output field.
Each OVER stage also uses the aggregate with the fewest keyed-state accesses per row (one
ARRAY_AGG instead of a FIRST_VALUE per column: each state access hashes the key), measured in
docs/benchmarks.md (Flink jobs)."""

from __future__ import annotations

from pyflink.table import Table

from config import MetricsJobSettings
from flink_jobs.connectors import KEY_COLUMN, ROWTIME, schema_columns
from flink_jobs.sql_building import level_sum, query, safe_ratio, sql_double
from schemas import Topic

PARTITION = "PARTITION BY `exchange`, `symbol` ORDER BY `rt`"
# Columns every stage passes on unchanged up to the output.
PASSED_ON = [
    "`exchange`", "`market`", "`symbol`", "`event_time`", "`receive_time_ns`", "`sequence_id`", "`crossed`",
    "`resynced`", "`rt`", "mid", "best_bid", "best_ask", "best_bid_size", "best_ask_size", "spread",
    "spread_bps", "microprice",
]  # fmt: skip
# Below this a standard deviation is rounding noise of SUM(x^2) - SUM(x)^2/n, not dispersion, and
# a z-score over it would be meaningless: z is NULL instead.
STD_FLOOR_REL = 1e-7
STD_FLOOR_ABS = 1e-12


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


def _lag_stage(per_book: Table, settings: MetricsJobSettings) -> Table:
    """The previous book of the same key (top `ofi_levels` levels) and order flow imbalance; the
    ratios of the per-book sums are formed here too, and the level columns end here: from now on
    the row holds one scalar per output field.

    Not LAG(): Flink gives LAG the default RANGE frame, where two updates with the same event
    time are peers and the first would see itself as its predecessor. A ROWS frame of two rows
    keeps arrival order among equal times. One ARRAY_AGG of a ROW of the top levels (NULLs kept
    inside the row) holds both books: one list in keyed state per key, where a FIRST_VALUE per
    column kept two maps each (40 at M = 5) and cost 1.5x the CPU of the whole job. This stage
    is a keyed exchange that serializes the row, so its input carries only what OFI needs
    besides the per-book scalars (20 level columns at M = 5, not all 80)."""
    names = _ofi_columns(settings)
    levels = "ROW<" + ", ".join(f"{c} DOUBLE" for c in names) + ">"
    window = f"{PARTITION} ROWS BETWEEN 1 PRECEDING AND CURRENT ROW"
    pairs = query(
        per_book,
        f"SELECT *, ARRAY_AGG(CAST(ROW({', '.join(names)}) AS {levels})) OVER w AS pair"
        f" FROM {{src}} WINDOW w AS ({window})",
    )
    prevs = ", ".join(f"CASE WHEN CARDINALITY(pair) = 2 THEN pair[1].{c} END AS prev_{c}" for c in names)
    lagged = query(pairs, f"SELECT *, CARDINALITY(pair) = 2 AS has_prev, {prevs} FROM {{src}}")
    has_prev = "has_prev AND mid IS NOT NULL"
    multi = " + ".join(_ofi_level(i) for i in range(1, settings.ofi_levels + 1))
    vtob_total = f"sum_bid_{settings.vtob_levels} + sum_ask_{settings.vtob_levels}"
    cols = [
        *PASSED_ON,
        f"CASE WHEN {has_prev} THEN {_ofi_level(1)} END AS ofi_1",
        f"CASE WHEN {has_prev} THEN ({multi}) END AS ofi_{settings.ofi_levels}",
        f"{safe_ratio('wsum_bid - wsum_ask', 'wsum_bid + wsum_ask')} AS weighted_imbalance",
        f"{safe_ratio('best_bid_size + best_ask_size', vtob_total)} AS vtob_ratio",
        f"{safe_ratio('microprice - mid', 'mid')} * 10000 AS microprice_lean_bps",
    ]
    for n in settings.imbalance_levels:
        cols.append(
            f"{safe_ratio(f'sum_bid_{n} - sum_ask_{n}', f'sum_bid_{n} + sum_ask_{n}')} AS imbalance_{n}"
        )
    for pct in settings.depth_pcts:
        sfx = depth_suffix(pct)
        cols += [f"depth_bid_{sfx}", f"depth_ask_{sfx}", f"depth_complete_{sfx}"]
    return query(lagged, "SELECT " + ", ".join(cols) + " FROM {src}")


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


def _ofi_level(i: int) -> str:
    """Cont, Kukanov and Stoikov (2014) e_n at level i between this book and the previous one."""
    pb, qb, ppb, pqb = f"b_p{i}", f"b_q{i}", f"prev_b_p{i}", f"prev_b_q{i}"
    pa, qa, ppa, pqa = f"a_p{i}", f"a_q{i}", f"prev_a_p{i}", f"prev_a_q{i}"
    return (
        f"(CASE WHEN {pb} >= {ppb} THEN {qb} ELSE 0 END - CASE WHEN {pb} <= {ppb} THEN {pqb} ELSE 0 END"
        f" - CASE WHEN {pa} <= {ppa} THEN {qa} ELSE 0 END + CASE WHEN {pa} >= {ppa} THEN {pqa} ELSE 0 END)"
    )


def _sums_stage(book: Table, settings: MetricsJobSettings) -> Table:
    """Everything one book determines, as sums and plain values, plus the top `ofi_levels` levels
    the lag stage needs; the other level columns are dropped here, before the first exchange.
    Ratios of sums come after the next OVER: the planner merges adjacent projections, and would
    inline each sum into both numerator and denominator."""
    microprice = safe_ratio("a_p1 * b_q1 + b_p1 * a_q1", "b_q1 + a_q1")
    cols = [
        "b_p1 AS best_bid, a_p1 AS best_ask, b_q1 AS best_bid_size, a_q1 AS best_ask_size",
        "CASE WHEN mid IS NOT NULL THEN a_p1 - b_p1 END AS spread",
        f"{safe_ratio('a_p1 - b_p1', 'mid')} * 10000 AS spread_bps",
        f"CASE WHEN mid IS NOT NULL THEN {microprice} END AS microprice",
        f"{_weighted_sum('b', settings)} AS wsum_bid",
        f"{_weighted_sum('a', settings)} AS wsum_ask",
        *_ofi_columns(settings),
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


def _velocity_stage(lagged: Table, settings: MetricsJobSettings) -> Table:
    """The earliest update in the velocity window with a followed imbalance: the first element
    of one ARRAY_AGG (NULLs ignored) of (imbalance, time), in the window's arrival order, which
    is what FIRST_VALUE of each gave, with one list in keyed state instead of four maps."""
    window = (
        f"RANGE BETWEEN INTERVAL '{settings.velocity_window_ms / 1000:.3f}' SECOND PRECEDING AND CURRENT ROW"
    )
    imb = _followed(settings)
    ordered = query(
        lagged,
        f"""
        SELECT *, ARRAY_AGG(CASE WHEN {imb} IS NOT NULL THEN
            CAST(ROW({imb}, event_time) AS ROW<imb DOUBLE, event_time BIGINT>) END IGNORE NULLS) OVER w AS firsts
        FROM {{src}} WINDOW w AS ({PARTITION} {window})
        """,
    )
    # the array itself stays here: the next stage would serialize and keep it for 60 s
    kept = ", ".join(f"`{c}`" for c in ordered.get_schema().get_field_names() if c != "firsts")
    return query(
        ordered,
        f"SELECT {kept}, firsts[1].imb AS imb_first, firsts[1].event_time AS imb_first_time FROM {{src}}",
    )


def _baseline_stage(flow: Table, settings: MetricsJobSettings) -> Table:
    window = (
        f"RANGE BETWEEN INTERVAL '{settings.baseline_window_ms / 1000:.3f}' SECOND PRECEDING AND CURRENT ROW"
    )
    aggs = []
    for x, name in (("spread_bps", "s"), (_followed(settings), "i")):
        aggs += [
            f"COUNT({x}) OVER w AS {name}_n",
            f"SUM({x}) OVER w AS {name}_sum",
            f"SUM({x} * {x}) OVER w AS {name}_sumsq",
        ]
    return query(flow, f"SELECT *, {', '.join(aggs)} FROM {{src}} WINDOW w AS ({PARTITION} {window})")


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

    The result has every orderbook.processed column, the Kafka key `record_key` and `rt`."""
    check_settings(settings)
    lagged = _lag_stage(_sums_stage(_book_stage(raw, settings), settings), settings)
    staged = _baseline_stage(_velocity_stage(lagged, settings), settings)
    imb = _followed(settings)
    velocity = (
        "CASE WHEN imb_first_time IS NOT NULL AND event_time > imb_first_time THEN "
        f"({imb} - imb_first) / (CAST(event_time - imb_first_time AS DOUBLE) / 1000) END"
    )
    derived = {
        "schema_version": "1",
        "imbalance_velocity": velocity,
        **{c.rsplit(" AS ", 1)[1]: c.rsplit(" AS ", 1)[0] for c in _stats("s", "spread_bps", "spread_bps")},
        **{c.rsplit(" AS ", 1)[1]: c.rsplit(" AS ", 1)[0] for c in _stats("i", imb, "imbalance")},
    }
    staged_columns = set(staged.get_schema().get_field_names())
    select = [f"`exchange` || ':' || `symbol` AS `{KEY_COLUMN}`"]
    for name, sql_type in schema_columns(Topic.PROCESSED):
        if name in derived:
            select.append(f"{derived[name]} AS `{name}`")
        elif name in staged_columns:
            select.append(f"`{name}`")
        else:  # a depth level the settings do not ask for
            select.append(f"CAST(NULL AS {sql_type}) AS `{name}`")
    select.append(f"`{ROWTIME}`")
    return query(staged, "SELECT " + ",\n".join(select) + " FROM {src}")
