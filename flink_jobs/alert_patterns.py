"""Detection of alert candidates in Flink SQL: `orderbook.processed` Table -> candidates Table.

Every alert condition is an episode: a run of consecutive updates of one key in which the
condition holds. Where the condition has hysteresis (extreme imbalance), whether it holds depends
on the history, so the state is computed first with OVER windows (the last update outside the
hysteresis band decides); then MATCH_RECOGNIZE finds the episodes that are confirmed (held for
the minimum time) or, for the flip, the two extremes within the window. Each pattern starts at the
first update of an episode and skips past its match, so one episode gives one candidate; the
cooldown between episodes is applied downstream (alert_cooldown.py).

Thresholds are columns, per symbol (configuration overrides become a CASE on the symbol), so a
new threshold needs a redeploy, not a code change. Candidate columns: CANDIDATE_COLUMNS."""

from __future__ import annotations

from collections.abc import Callable

from pyflink.table import Table

from config import AlertSettings
from flink_jobs.connectors import ROWTIME
from flink_jobs.sql_building import query, sql_double

# The imbalance levels orderbook.processed publishes.
IMBALANCE_LEVELS = (1, 5, 10, 20)
# A confirmation must come within this long after the minimum duration (WITHIN bounds the state of
# a partial match when a key falls silent mid-episode).
CONFIRM_GRACE_MS = 60_000
KEY = "`exchange`, `market`, `symbol`"
ORDER = f"PARTITION BY {KEY} ORDER BY `{ROWTIME}`"
SEVERITIES = ("medium", "high")
# Candidate columns, in this order, in every branch of the union.
CANDIDATE_COLUMNS = (
    "alert_type", "severity", "exchange", "market", "symbol", "metric_value", "threshold",
    "window_start", "window_end", "event_time", "cooldown_ms", "detail", ROWTIME,
)  # fmt: skip


# Settings that become per-symbol columns (imbalance_level picks the imbalance column instead).
FLOAT_FIELDS = (
    "imbalance_medium", "imbalance_high", "imbalance_clear", "imbalance_high_clear",
    "flip_threshold", "spread_widening_k", "velocity_threshold",
)  # fmt: skip
MS_FIELDS = ("imbalance_min_duration_ms", "flip_window_ms", "spread_min_duration_ms", "cooldown_ms")


def symbol_settings(settings: AlertSettings) -> dict[str, dict[str, float]]:
    """Resolved settings of every symbol with overrides, plus '' for all the others."""
    resolved = {"": settings.for_symbol("")}
    for symbol in settings.overrides:
        resolved[symbol.upper()] = settings.for_symbol(symbol)
    return resolved


def check_alert_settings(settings: AlertSettings) -> None:
    """Refuse settings that cannot describe an alert, per symbol, at plan time."""
    known = set(FLOAT_FIELDS) | set(MS_FIELDS) | {"imbalance_level"}
    for symbol, over in settings.overrides.items():
        unknown = set(over) - known
        if unknown:
            raise ValueError(f"unknown alert settings in the override of {symbol}: {sorted(unknown)}")
    for symbol, s in symbol_settings(settings).items():
        where = f" (override of {symbol})" if symbol else ""
        if int(s["imbalance_level"]) not in IMBALANCE_LEVELS or s["imbalance_level"] != int(
            s["imbalance_level"]
        ):
            raise ValueError(f"imbalance_level must be one of {IMBALANCE_LEVELS}{where}")
        if not 0 <= s["imbalance_clear"] < s["imbalance_medium"] <= s["imbalance_high"] <= 1:
            raise ValueError(f"need 0 <= imbalance_clear < imbalance_medium <= imbalance_high <= 1{where}")
        if not s["imbalance_medium"] <= s["imbalance_high_clear"] < s["imbalance_high"]:
            raise ValueError(f"need imbalance_medium <= imbalance_high_clear < imbalance_high{where}")
        if not 0 < s["flip_threshold"] <= 1:
            raise ValueError(f"flip_threshold must be in (0, 1]{where}")
        if s["spread_widening_k"] <= 1:
            raise ValueError(f"spread_widening_k must exceed 1 (the mean includes the current spread){where}")
        if s["velocity_threshold"] <= 0:
            raise ValueError(f"velocity_threshold must be positive{where}")
        if min(s["imbalance_min_duration_ms"], s["spread_min_duration_ms"], s["flip_window_ms"]) <= 0:
            raise ValueError(f"durations and the flip window must be positive{where}")
        if s["cooldown_ms"] < 0:
            raise ValueError(f"cooldown_ms cannot be negative{where}")


def _per_symbol(settings: AlertSettings, field: str, render: Callable[[float], str]) -> str:
    """The SQL value of one setting: a literal, or a CASE on the symbol when overrides differ."""
    resolved = symbol_settings(settings)
    default = render(resolved[""][field])
    branches = [
        f"WHEN '{symbol}' THEN {render(values[field])}"
        for symbol, values in resolved.items()
        if symbol and values[field] != resolved[""][field]
    ]
    return f"CASE `symbol` {' '.join(branches)} ELSE {default} END" if branches else default


def _max_ms(settings: AlertSettings, field: str) -> int:
    return int(max(values[field] for values in symbol_settings(settings).values()))


def _within(ms: int) -> str:
    """WITHIN of a pattern that must be able to end exactly `ms` after it started: Flink prunes a
    partial match once `time - start >= WITHIN`, so the interval is one millisecond longer."""
    return f"WITHIN INTERVAL '{(ms + 1) / 1000:.3f}' SECOND"


def _inputs_stage(processed: Table, settings: AlertSettings) -> Table:
    """The inputs of every condition, thresholds as columns, and each condition's per-update code:
    1 above the enter threshold, 0 below the clear threshold (or no imbalance), NULL in the band."""
    imbalance = _per_symbol(settings, "imbalance_level", lambda n: f"`imbalance_{int(n)}`")
    columns = [f"COALESCE({imbalance}, CAST(0 AS DOUBLE)) AS imb"]
    columns += [f"{_per_symbol(settings, f, sql_double)} AS {f}" for f in FLOAT_FIELDS]
    columns += [
        f"CAST({_per_symbol(settings, f, lambda v: str(int(v)))} AS BIGINT) AS {f}" for f in MS_FIELDS
    ]
    columns.append(
        f"CAST({_per_symbol(settings, 'imbalance_level', lambda v: str(int(v)))} AS DOUBLE) AS imb_level"
    )
    staged = query(
        processed,
        f"SELECT {KEY}, `event_time`, `{ROWTIME}`, `imbalance_velocity` AS vel, `spread_bps`, `spread_bps_mean`, "
        + ", ".join(columns)
        + " FROM {src}",
    )
    codes = []
    for severity, clear in (("medium", "imbalance_clear"), ("high", "imbalance_high_clear")):
        for side, signed in (("pos", "imb"), ("neg", "-imb")):
            codes.append(
                f"CASE WHEN {signed} >= imbalance_{severity} THEN 1 WHEN {signed} < {clear} THEN 0 END"
                f" AS code_{severity}_{side}"
            )
    codes.append(
        "CASE WHEN spread_bps_mean > 0 AND spread_bps >= spread_widening_k * spread_bps_mean THEN 1 ELSE 0 END"
        " AS spread_on"
    )
    codes.append("CASE WHEN ABS(vel) >= velocity_threshold THEN 1 ELSE 0 END AS vel_on")
    return query(staged, "SELECT *, " + ", ".join(codes) + " FROM {src}")


def _state_stage(inputs: Table) -> Table:
    """Hysteresis state after each update, per severity: +1 (bid-heavy episode), -1 (ask-heavy)
    or 0, i.e. the code of the last update outside the band on each side (LAST_VALUE skips NULL)."""
    states = []
    for severity in SEVERITIES:
        pos = f"COALESCE(LAST_VALUE(code_{severity}_pos) OVER w, 0)"
        neg = f"COALESCE(LAST_VALUE(code_{severity}_neg) OVER w, 0)"
        states.append(f"{pos} - {neg} AS st_{severity}")
    window = f"{ORDER} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
    return query(inputs, f"SELECT *, {', '.join(states)} FROM {{src}} WINDOW w AS ({window})")


def _previous_stage(states: Table) -> Table:
    """Each condition's value at the previous update of the key (0 before the first), so a
    pattern can start exactly at the first update of an episode. A ROWS frame of two rows keeps
    arrival order among equal event times (as the metrics job's OFI stage does)."""
    lagged = ("st_medium", "st_high", "spread_on", "vel_on")
    firsts = ", ".join(f"FIRST_VALUE({c}) OVER w AS first_{c}" for c in lagged)
    window = f"{ORDER} ROWS BETWEEN 1 PRECEDING AND CURRENT ROW"
    pairs = query(
        states, f"SELECT *, COUNT(*) OVER w AS pair_rows, {firsts} FROM {{src}} WINDOW w AS ({window})"
    )
    prevs = ", ".join(f"CASE WHEN pair_rows = 2 THEN first_{c} ELSE 0 END AS prev_{c}" for c in lagged)
    return query(pairs, f"SELECT *, {prevs} FROM {{src}}")


def _extreme_candidates(flow: Table, severity: str, settings: AlertSettings) -> Table:
    """An episode of |imbalance| at or above the severity's threshold (ended only below its clear
    threshold) that has lasted the minimum duration: one candidate, at the confirming update."""
    within = _within(_max_ms(settings, "imbalance_min_duration_ms") + CONFIRM_GRACE_MS)
    st = f"st_{severity}"
    return query(
        flow,
        f"""
        SELECT 'imbalance_extreme' AS alert_type, '{severity}' AS severity, {KEY}, metric_value,
          threshold, window_start, window_end, window_end AS event_time, cooldown_ms, detail, `{ROWTIME}`
        FROM {{src}} MATCH_RECOGNIZE (
          {ORDER}
          MEASURES S.event_time AS window_start, E.event_time AS window_end, E.imb AS metric_value,
            E.imbalance_{severity} AS threshold, E.cooldown_ms AS cooldown_ms, E.imb_level AS detail,
            MATCH_ROWTIME() AS `{ROWTIME}`
          ONE ROW PER MATCH
          AFTER MATCH SKIP PAST LAST ROW
          PATTERN (S C*? E) {within}
          DEFINE
            S AS S.{st} <> 0 AND S.{st} <> S.prev_{st},
            C AS C.{st} = S.{st},
            E AS E.{st} = S.{st} AND E.event_time - S.event_time >= E.imbalance_min_duration_ms
        )
        """,
    )


def _flip_candidates(flow: Table, settings: AlertSettings) -> Table:
    """Imbalance at or beyond +T, then at or beyond -T (or the reverse) within W. The earliest
    extreme still within W is the start; the next flip may start at this one's end."""
    within = _within(_max_ms(settings, "flip_window_ms"))
    return query(
        flow,
        f"""
        SELECT 'imbalance_flip' AS alert_type, 'high' AS severity, {KEY}, metric_value,
          threshold, window_start, window_end, window_end AS event_time, cooldown_ms, detail, `{ROWTIME}`
        FROM {{src}} MATCH_RECOGNIZE (
          {ORDER}
          MEASURES A.event_time AS window_start, Z.event_time AS window_end, Z.imb AS metric_value,
            Z.flip_threshold AS threshold, Z.cooldown_ms AS cooldown_ms, A.imb AS detail,
            MATCH_ROWTIME() AS `{ROWTIME}`
          ONE ROW PER MATCH
          AFTER MATCH SKIP TO LAST Z
          PATTERN (A M*? Z) {within}
          DEFINE
            A AS ABS(A.imb) >= A.flip_threshold,
            M AS SIGN(A.imb) * M.imb > -M.flip_threshold,
            Z AS SIGN(A.imb) * Z.imb <= -Z.flip_threshold AND Z.event_time - A.event_time <= Z.flip_window_ms
        )
        """,
    )


def _spread_candidates(flow: Table, settings: AlertSettings) -> Table:
    """spread_bps at or above k times its rolling mean on every update for the minimum duration."""
    within = _within(_max_ms(settings, "spread_min_duration_ms") + CONFIRM_GRACE_MS)
    return query(
        flow,
        f"""
        SELECT 'spread_widening' AS alert_type, 'medium' AS severity, {KEY}, metric_value,
          threshold, window_start, window_end, window_end AS event_time, cooldown_ms, detail, `{ROWTIME}`
        FROM {{src}} MATCH_RECOGNIZE (
          {ORDER}
          MEASURES S.event_time AS window_start, E.event_time AS window_end,
            E.spread_bps / E.spread_bps_mean AS metric_value, E.spread_widening_k AS threshold,
            E.cooldown_ms AS cooldown_ms, E.spread_bps AS detail, MATCH_ROWTIME() AS `{ROWTIME}`
          ONE ROW PER MATCH
          AFTER MATCH SKIP PAST LAST ROW
          PATTERN (S C*? E) {within}
          DEFINE
            S AS S.spread_on = 1 AND S.prev_spread_on = 0,
            C AS C.spread_on = 1,
            E AS E.spread_on = 1 AND E.event_time - S.event_time >= E.spread_min_duration_ms
        )
        """,
    )


def _velocity_candidates(flow: Table) -> Table:
    """The first update of a run with |velocity| at or above V. No duration to confirm, so no
    pattern is needed: the previous update's value decides (a one-row MATCH_RECOGNIZE would be
    the same filter with a sorting buffer in front)."""
    return query(
        flow,
        f"""
        SELECT 'velocity_spike' AS alert_type, 'low' AS severity, {KEY}, vel AS metric_value,
          velocity_threshold AS threshold, `event_time` AS window_start, `event_time` AS window_end,
          `event_time`, cooldown_ms, CAST(NULL AS DOUBLE) AS detail, `{ROWTIME}`
        FROM {{src}} WHERE vel_on = 1 AND prev_vel_on = 0
        """,
    )


def candidates_table(processed: Table, settings: AlertSettings) -> Table:
    """Alert candidates of every type (before the cooldown), one per confirmed episode."""
    check_alert_settings(settings)
    flow = _previous_stage(_state_stage(_inputs_stage(processed, settings)))
    parts = [_extreme_candidates(flow, s, settings) for s in SEVERITIES]
    parts += [
        _flip_candidates(flow, settings),
        _spread_candidates(flow, settings),
        _velocity_candidates(flow),
    ]
    union = parts[0]
    for part in parts[1:]:
        union = union.union_all(part)
    return union
