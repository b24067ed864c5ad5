"""The measured hit rate of each alert rule, shown next to the rule in the alert feed: did the mid
move the way the alert pointed, 5 s and 30 s after it, and by how much, against the unconditional
move of the same symbols over the same range.

Definitions are `obm alerts evaluate`'s (obm/alerts/evaluation.py, docs/alerts.md "Measuring"),
computed by its own `MidPath` and `Moves` on stored history:
- the move after an alert at t, horizon h: mid(t + h) / mid(t) - 1 in bps, mid(x) the mid of the
  last stored update (orderbook_metrics) at or before x, only where t + h is within the range's
  data; signed by the alert's direction (the sign of `metric_value`: bid-heavy / up = +1, which is
  the direction the rules engine gives imbalance_extreme, imbalance_flip and velocity_spike).
  The hit rate is over the moves that are not 0, the mean over all. Rules without a direction
  (spread_widening, user rules) are compared on the mean |move|;
- only the updates that decide each move are read (per alert: the last update at or before t and
  at or before t + h, and the key's last update of the range): MidPath over those few points
  answers exactly what it answers over every update;
- the unconditional baseline, per symbol, is evaluate's `all` baseline sampled once a second: every
  stored 1 s bar's close (the mid of the last update of that second) as an event, direction +1.
  Evaluate takes every update as an event; a day of updates per symbol is too much to read for a
  page, a day of 1 s bars is 86,400 rows. A rule's baseline pools the symbols it alerted on.

Pure logic here (unit-tested with hand-made rows); the queries are in dashboard/hit_rate_store.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from obm.alerts.evaluation import MidPath, Moves

HIT_HORIZONS_MS = (5_000, 30_000)
# Below this many nonzero moves a hit rate is noise: shown as "n too small" (with n).
MIN_NONZERO_MOVES = 10
# The rules whose alerts point to a side (the rules engine's `direction`); the others do not.
DIRECTED_RULES = frozenset({"imbalance_extreme", "imbalance_flip", "velocity_spike"})
# Ranges the page offers for the measurement, label -> seconds: at most a day, whose 86,400 bars
# per symbol the baseline reads (a week would be 604,800 a symbol, too much for a page).
HIT_RATE_RANGES: dict[str, int] = {"1 hour": 3_600, "6 hours": 21_600, "24 hours": 86_400}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def epoch_ms(value: datetime | int) -> int:
    """Exact epoch ms of a timestamptz (no float rounding) or of an int already in ms."""
    if isinstance(value, datetime):
        return (value - _EPOCH) // _MS
    return int(value)


def _horizon_moves() -> dict[int, Moves]:
    return {h: Moves() for h in HIT_HORIZONS_MS}


def _sign(x: float | None) -> int:
    return 0 if x is None else (x > 0) - (x < 0)


def merged(moves: Iterable[Moves]) -> Moves:
    """Moves of several sets of events as one set."""
    out = Moves()
    for m in moves:
        out.n += m.n
        out.nonzero += m.nonzero
        out.hits += m.hits
        out.signed_sum += m.signed_sum
        out.abs_sum += m.abs_sum
    return out


@dataclass(frozen=True)
class AlertMids:
    """One stored alert and the updates that decide its forward moves: (time ms, mid) of the last
    update with a mid at or before the alert and at or before each horizon (None when there is
    none), and the time of the key's last update in the range."""

    key: str
    alert_type: str
    metric_value: float
    event_time: int
    at_alert: tuple[int, float] | None
    at_horizon: Mapping[int, tuple[int, float] | None]
    data_end: int | None


def alert_direction(alert_type: str, metric_value: float) -> int:
    """+1 / -1 for a directed rule (its alerts point where the sign of metric_value does), else +1
    (compared on |move|)."""
    return (_sign(metric_value) or 1) if alert_type in DIRECTED_RULES else 1


def alert_move(alert: AlertMids, horizon_ms: int) -> float | None:
    """The alert's forward move at the horizon in bps, signed by its direction (evaluate's
    definition through its MidPath), or None when the range's data ends before t + h."""
    if alert.data_end is None:
        return None
    points = sorted({p for p in (alert.at_alert, alert.at_horizon.get(horizon_ms)) if p is not None})
    times = [t for t, _ in points] + [alert.data_end]
    mids: list[float | None] = [m for _, m in points]
    path = MidPath(times, [*mids, None])  # the last update holds the mid before it
    move = path.move_bps(alert.event_time, horizon_ms)
    return None if move is None else alert_direction(alert.alert_type, alert.metric_value) * move


@dataclass
class RuleMoves:
    """Per rule: its alerts, their forward moves per horizon, and the symbols they were on."""

    alerts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    moves: dict[str, dict[int, Moves]] = field(default_factory=lambda: defaultdict(_horizon_moves))
    keys: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def rule_moves(alerts: Iterable[AlertMids]) -> RuleMoves:
    out = RuleMoves()
    for a in alerts:
        out.alerts[a.alert_type] += 1
        out.keys[a.alert_type].add(a.key)
        for h in HIT_HORIZONS_MS:
            move = alert_move(a, h)
            if move is not None:
                out.moves[a.alert_type][h].add(move)
    return out


def baseline_moves(closes: Sequence[tuple[int, float]]) -> dict[int, Moves]:
    """The unconditional moves of one symbol: every 1 s bar's close (window_end - 1 ms, mid_close;
    in time order) as an event with direction +1."""
    times = [t for t, _ in closes]
    path = MidPath(times, [m for _, m in closes])
    out = _horizon_moves()
    for h in HIT_HORIZONS_MS:
        for t in times:
            move = path.move_bps(t, h)
            if move is not None:
                out[h].add(move)
    return out


def _directed_cell(m: Moves) -> str:
    if m.nonzero < MIN_NONZERO_MOVES:
        return f"n too small (n={m.nonzero}/{m.n})"
    return f"{100 * m.hit_rate:.0f}% hit, {m.mean_bps:+.2f} bps (n={m.nonzero}/{m.n})"  # type: ignore[operator]


def _undirected_cell(m: Moves) -> str:
    if m.n < MIN_NONZERO_MOVES:
        return f"n too small (n={m.n})"
    return f"|move| {m.mean_abs_bps:.2f} bps (n={m.n})"


def _baseline_cell(m: Moves, directed: bool) -> str:
    if not m.n:
        return "—"
    if not directed:
        return f"|move| {m.mean_abs_bps:.2f} bps"
    up = "—" if m.hit_rate is None else f"{100 * m.hit_rate:.0f}%"
    return f"up {up}, {m.mean_bps:+.2f} bps, |move| {m.mean_abs_bps:.2f}"


def hit_rate_table(
    found: RuleMoves, baselines: Mapping[str, dict[int, Moves]], rules: Sequence[str]
) -> pd.DataFrame:
    """One row per rule (in `rules` order; rules without alerts in the range say so): alerts, and
    per horizon the rule's cell and the unconditional baseline of its symbols."""
    rows: list[dict[str, Any]] = []
    for rule in rules:
        directed = rule in DIRECTED_RULES
        row: dict[str, Any] = {"Rule": rule, "Alerts": found.alerts.get(rule, 0)}
        keys = sorted(found.keys.get(rule, ()))
        for h in HIT_HORIZONS_MS:
            label = f"{h // 1000} s"
            if not row["Alerts"]:
                row[f"After {label}"], row[f"Unconditional {label}"] = "no alerts", "—"
                continue
            m = found.moves[rule][h]
            row[f"After {label}"] = _directed_cell(m) if directed else _undirected_cell(m)
            base = merged(baselines[k][h] for k in keys if k in baselines)
            row[f"Unconditional {label}"] = _baseline_cell(base, directed)
        rows.append(row)
    return pd.DataFrame(rows)
