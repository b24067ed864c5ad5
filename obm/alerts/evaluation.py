"""How informative the alert rules are on a stream of processed records: per rule and symbol,
alerts per hour, the fraction of time each rule's condition holds, and the mid-price move after
each alert against the unconditional baseline (`obm alerts evaluate`, docs/alerts.md).

Definitions (docs/alerts.md, "Measuring"):
- the hours of a key: its last event time minus its first, over 3.6e6;
- time in condition: each update's condition holds until the key's next update (the last update
  holds for no time), summed and divided by the key's span;
- the move after an event at time t, horizon h: mid(t + h) / mid(t) - 1, in bps, mid(x) being the
  mid of the last update at or before x; only where t + h is within the key's data. Signed by the
  alert's direction (+1 bid-heavy / up, -1); a hit is a signed move > 0, the hit rate is over the
  moves that are not 0 (a mid that did not move says nothing about the direction);
- baselines, over every update of the key as an event: `all` (direction +1: the drift and how
  often the mid went up), `imbalance sign` (direction = the sign of the rule's imbalance, what
  reading the book without any alert gives) and `velocity sign`. A rule without a direction
  (spread_widening) is compared on the mean absolute move (does it announce volatility);
- in condition: every update at which a rule's entry condition holds, as an event in the
  condition's direction (more events than alerts, so it shows whether the condition carries
  information where the alerts are too few to)."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from config import AlertSettings
from flink_jobs.alert_profiles import RULES, RuleProfile
from flink_jobs.alert_rules import Alert, RuleEngine

HORIZONS_MS = (1_000, 5_000, 30_000, 60_000)
CONDITIONS = (
    "imbalance_extreme_medium", "imbalance_extreme_high", "imbalance_flip", "spread_widening", "velocity_spike",
)  # fmt: skip
BASELINES = ("all", "imbalance sign", "velocity sign")


@dataclass
class Moves:
    """Forward moves of a set of events at one horizon."""

    n: int = 0
    nonzero: int = 0
    hits: int = 0
    signed_sum: float = 0.0
    abs_sum: float = 0.0

    def add(self, signed_bps: float) -> None:
        self.n += 1
        self.nonzero += signed_bps != 0
        self.hits += signed_bps > 0
        self.signed_sum += signed_bps
        self.abs_sum += abs(signed_bps)

    @property
    def hit_rate(self) -> float | None:
        return self.hits / self.nonzero if self.nonzero else None

    @property
    def mean_bps(self) -> float | None:
        return self.signed_sum / self.n if self.n else None

    @property
    def mean_abs_bps(self) -> float | None:
        return self.abs_sum / self.n if self.n else None

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "nonzero": self.nonzero, "hit_rate": self.hit_rate, "mean_bps": self.mean_bps,
                "mean_abs_bps": self.mean_abs_bps}  # fmt: skip


def _moves() -> dict[int, Moves]:
    return {h: Moves() for h in HORIZONS_MS}


@dataclass
class KeyReport:
    """The evaluation of one exchange:symbol."""

    key: str
    first: int = 0
    last: int = 0
    updates: int = 0
    alerts: dict[str, list[Alert]] = field(default_factory=lambda: defaultdict(list))
    condition_ms: Counter = field(default_factory=Counter)
    rule_moves: dict[str, dict[int, Moves]] = field(default_factory=lambda: defaultdict(_moves))
    baseline_moves: dict[str, dict[int, Moves]] = field(default_factory=lambda: defaultdict(_moves))
    # every update in a rule's condition as an event, in its direction
    condition_moves: dict[str, dict[int, Moves]] = field(default_factory=lambda: defaultdict(_moves))

    @property
    def hours(self) -> float:
        return (self.last - self.first) / 3.6e6

    def per_hour(self, rule: str) -> float | None:
        return len(self.alerts[rule]) / self.hours if self.hours > 0 else None

    def time_in_condition(self, condition: str) -> float | None:
        span = self.last - self.first
        return self.condition_ms[condition] / span if span > 0 else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "hours": self.hours, "updates": self.updates,
            "rules": {
                rule: {
                    "alerts": len(self.alerts[rule]), "per_hour": self.per_hour(rule),
                    "severities": dict(Counter(a.severity for a in self.alerts[rule])),
                    "moves": {h: m.as_dict() for h, m in self.rule_moves[rule].items()},
                }
                for rule in RULES
            },
            "time_in_condition": {c: self.time_in_condition(c) for c in CONDITIONS},
            "condition_moves": {c: {h: m.as_dict() for h, m in self.condition_moves[c].items()} for c in CONDITIONS},
            "baselines": {b: {h: m.as_dict() for h, m in self.baseline_moves[b].items()} for b in BASELINES},
        }  # fmt: skip


class MidPath:
    """The mid of one key as a step function of (clock) time."""

    def __init__(self, times: list[int], mids: list[float | None]) -> None:
        self.times, self.mids = [], []
        held = None
        for t, m in zip(times, mids, strict=True):
            held = m if m is not None else held
            self.times.append(t)
            self.mids.append(held)

    def at(self, t: int) -> float | None:
        i = bisect_right(self.times, t) - 1
        return self.mids[i] if i >= 0 else None

    def move_bps(self, t: int, horizon_ms: int) -> float | None:
        if not self.times or t + horizon_ms > self.times[-1]:
            return None
        m0, m1 = self.at(t), self.at(t + horizon_ms)
        return None if m0 is None or m1 is None else (m1 - m0) / m0 * 1e4


def _sign(x: float | None) -> int:
    return 0 if x is None else (x > 0) - (x < 0)


def evaluate(
    records: list[dict[str, Any]],
    settings: AlertSettings,
    profile: str | None = None,
    adjust: Callable[[RuleProfile], RuleProfile] | None = None,
    baselines: bool = True,
) -> list[KeyReport]:
    """Run the rules over the records (each key in event-time, then arrival order) and measure;
    without `baselines`, only the alerts' own moves (calibration's trials, many runs)."""
    engine = RuleEngine(settings, profile, adjust)
    by_key: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for i in sorted(range(len(records)), key=lambda i: (records[i]["event_time"], i)):
        rec = records[i]
        by_key[(rec["exchange"], rec["market"], rec["symbol"])].append(rec)
    reports = []
    for (exchange, _market, symbol), recs in sorted(by_key.items()):
        report = KeyReport(f"{exchange}:{symbol}")
        rules = engine.key_rules(recs[0])
        level = rules.profile.imbalance_level
        clock, times, directions = recs[0]["event_time"], [], []
        alerts: list[Alert] = []
        for j, rec in enumerate(recs):
            clock = max(clock, rec["event_time"])
            times.append(clock)
            alerts += rules.step(rec)
            if j + 1 < len(recs):
                held = max(clock, recs[j + 1]["event_time"]) - clock
                for c, direction in rules.conditions.items():
                    report.condition_ms[c] += held if direction else 0
            directions.append(dict(rules.conditions))
        alerts += rules.decide()
        report.first, report.last, report.updates = times[0], times[-1], len(recs)
        path = MidPath(times, [r.get("mid") for r in recs])
        for a in alerts:
            report.alerts[a.alert_type].append(a)
            for h in HORIZONS_MS:
                move = path.move_bps(a.event_time, h)
                if move is not None:
                    report.rule_moves[a.alert_type][h].add((a.direction or 1) * move)
        signals = {
            "all": [1] * len(recs),
            "imbalance sign": [_sign(r.get(f"imbalance_{level}")) for r in recs],
            "velocity sign": [_sign(r.get("imbalance_velocity")) for r in recs],
        }
        for h in HORIZONS_MS if baselines else ():
            for t, held_now in zip(times, directions, strict=True):
                move = path.move_bps(t, h)
                for c, d in held_now.items():
                    if d and move is not None:
                        report.condition_moves[c][h].add(d * move)
            for t, *dirs in zip(times, *signals.values(), strict=True):
                move = path.move_bps(t, h)
                if move is None:
                    continue
                for name, d in zip(signals, dirs, strict=True):
                    if d:
                        report.baseline_moves[name][h].add(d * move)
        reports.append(report)
    return reports
