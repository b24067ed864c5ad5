"""Per-symbol thresholds of the adaptive profile for a target alert rate (`obm alerts calibrate`).

Each rule is tried alone on a grid of its threshold (in the profile's units: rarity "1 in N" for
the imbalance rules, z for the spread, RMS for the velocity), the other
parameters as configured, over the same records: the proposal for a symbol and rule is the lowest
grid value whose rate is at most the rule's share of the target (the target per symbol and hour
over all rules, split evenly over the enabled rules). Lowest, because a lower threshold raises
earlier and more; the rate only falls as the threshold rises (up to the noise of short history).
The rate's resolution is one alert over the history's hours: on 6 minutes of data one alert is
10 an hour, so a proposal from less than a few hours is a floor, and the command says so."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from config import AlertSettings
from flink_jobs.alert_profiles import RuleProfile, profile_for
from obm.alerts.evaluation import Moves, evaluate


def _extreme(p: RuleProfile, m: float) -> RuleProfile:
    """Medium at "1 in m", high at 1 in 5m, each ending at half its own rarity."""
    return replace(
        p, imbalance_medium=m, imbalance_high=5 * m, imbalance_clear=m / 2, imbalance_high_clear=2.5 * m
    )


# rule -> (the profile field(s) a grid value sets, the grid)
GRIDS: dict[str, tuple[Callable[[RuleProfile, float], RuleProfile], tuple[float, ...]]] = {
    "imbalance_extreme": (_extreme, (10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0, 5_000.0)),
    "imbalance_flip": (
        lambda p, x: replace(p, flip_threshold=x),
        (5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1_000.0, 5_000.0),
    ),
    "spread_widening": (
        lambda p, x: replace(p, spread_widening_k=x),
        (3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0, 96.0),
    ),
    "velocity_spike": (
        lambda p, x: replace(p, velocity_threshold=x),
        (3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 7.0, 8.0, 10.0, 12.0),
    ),
}
# The override names a grid value becomes (imbalance_extreme sets four).
FIELDS = {
    "imbalance_extreme": ("imbalance_medium",),
    "imbalance_flip": ("flip_threshold",),
    "spread_widening": ("spread_widening_k",),
    "velocity_spike": ("velocity_threshold",),
}


@dataclass
class Trial:
    rule: str
    value: float
    alerts: int
    per_hour: float | None
    hours: float
    moves: dict[int, Moves]


def trials(records: list[dict[str, Any]], settings: AlertSettings) -> dict[str, dict[str, list[Trial]]]:
    """symbol key -> rule -> the grid, each value's alert count and rate (that rule alone)."""
    out: dict[str, dict[str, list[Trial]]] = {}
    for rule, (setter, grid) in GRIDS.items():
        for value in grid:

            def adjust(p: RuleProfile, rule: str = rule, value: float = value, setter=setter) -> RuleProfile:  # noqa: ANN001
                return setter(replace(p, rules=(rule,)), value)

            for report in evaluate(records, settings, "adaptive", adjust, baselines=False):
                row = Trial(
                    rule,
                    value,
                    len(report.alerts[rule]),
                    report.per_hour(rule),
                    report.hours,
                    report.rule_moves[rule],
                )
                out.setdefault(report.key, {}).setdefault(rule, []).append(row)
    return out


def propose(
    records: list[dict[str, Any]], settings: AlertSettings, target_per_hour: float
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, list[Trial]]]]:
    """(adaptive_overrides per symbol, the trials behind them)."""
    found = trials(records, settings)
    overrides: dict[str, dict[str, float]] = {}
    for key, per_rule in found.items():
        symbol = key.split(":", 1)[1]
        enabled = profile_for(symbol, settings, "adaptive").rules
        share = target_per_hour / max(1, len(enabled))
        values: dict[str, float] = {}
        for rule, rows in per_rule.items():
            if rule not in enabled:
                continue
            ok = [r.value for r in rows if r.per_hour is not None and r.per_hour <= share]
            value = min(ok) if ok else max(r.value for r in rows)
            chosen = (
                _extreme(profile_for(symbol, settings, "adaptive"), value)
                if rule == "imbalance_extreme"
                else None
            )
            if chosen is not None:
                values.update(
                    imbalance_medium=chosen.imbalance_medium, imbalance_high=chosen.imbalance_high,
                    imbalance_clear=chosen.imbalance_clear, imbalance_high_clear=chosen.imbalance_high_clear,
                )  # fmt: skip
            else:
                values[FIELDS[rule][0]] = value
        overrides[symbol] = values
    return overrides, found
