"""An independent reference of the adaptive profile, from the definitions in docs/alerts.md: each
update's baseline as an explicitly weighted mean, variance and tail fractions over every earlier
held value (two-pass, not the engine's recursions), the gates, and then today's rule state machines of
tests/flink/reference_alerts.py run on the scores (the adaptive rules are the seed's episodes
on z / RMS units). Severity escalation is left out: compare with escalate_factor = inf."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from flink.reference_alerts import _cooldown, _extremes, _flips, _spreads, _velocity

from flink_jobs.alert_profiles import RuleProfile


def _weights(times: list[int], n: int, tau: float) -> list[float]:
    """Normalised weights of values 0..n-1 of one series at time times[n]: value k held from
    times[k] to times[k+1], weighs 1 - a_k for it and decays by a_j = tau / (tau + dt_j) over
    every later interval."""
    decay = [tau / (tau + (times[k + 1] - times[k])) for k in range(n)]
    w = [(1 - decay[k]) * math.prod(decay[k + 1 :]) for k in range(n)]
    total = math.fsum(w)
    return [x / total for x in w]


def baseline_at(times: list[int], values: list[float], j: int, tau: float) -> tuple[float, float, int]:
    """(mean, variance, seen ms) of the series before update j (two-pass, weights explicit);
    (nan, nan, 0) before anything was folded. Values are those of consecutive updates with a
    value (the crafted inputs have no gaps)."""
    if j == 0:
        return math.nan, math.nan, 0
    w = _weights(times, j, tau)
    mean = math.fsum(wk * x for wk, x in zip(w, values, strict=False))
    var = math.fsum(wk * (x - mean) ** 2 for wk, x in zip(w, values, strict=False))
    return mean, var, times[j] - times[0]


def rarity_at(times: list[int], values: list[float], j: int, tau: float) -> float:
    """ "1 in N" of values[j] among the earlier held values, weights explicit: the weight at or
    beyond its 0.02-wide bin of [-1, 1] (half of the bin itself), signed by the nearer tail."""
    if j == 0:
        return 0.0

    def bin_of(x: float) -> int:
        return min(99, max(0, math.floor((x + 1) * 100 / 2)))

    w = _weights(times, j, tau)
    b = bin_of(values[j])
    same = math.fsum(wk for wk, x in zip(w, values, strict=False) if bin_of(x) == b)
    upper = math.fsum(wk for wk, x in zip(w, values, strict=False) if bin_of(x) > b) + same / 2
    lower = math.fsum(wk for wk, x in zip(w, values, strict=False) if bin_of(x) < b) + same / 2
    return 1 / max(upper, 1e-4) if upper <= lower else -1 / max(lower, 1e-4)


def adaptive_scores(recs: list[dict[str, Any]], p: RuleProfile) -> list[dict[str, Any]]:
    """Rows for reference_alerts' state machines: imb = gated rarity of the imbalance, spread_bps = z
    of the spread with spread_bps_mean = 1 (so the widening ratio is the z), vel = v / RMS.
    Every value of the crafted inputs is present on every update (no gaps)."""
    times = [r["event_time"] for r in recs]
    imb = [r[f"imbalance_{p.imbalance_level}"] for r in recs]
    spread = [r["spread_bps"] for r in recs]
    vel = [r["imbalance_velocity"] for r in recs]
    rows = []
    for j, r in enumerate(recs):
        seen = times[j] - times[0]
        z_imb = rarity_at(times, imb, j, p.baseline_tau_ms)
        sm, svar, _ = baseline_at(times, spread, j, p.baseline_tau_ms)
        z_spread = (spread[j] - sm) / max(math.sqrt(svar), 1e-12, p.spread_sd_floor_frac * abs(sm))
        vm = baseline_at(times, [v * v for v in vel], j, p.baseline_tau_ms)[0] if j else 0.0
        depth = (r["depth_bid_10bps"] + r["depth_ask_10bps"]) * r["mid"]
        gate = depth >= p.min_depth_notional and seen >= p.warmup_ms
        rows.append({
            "event_time": r["event_time"], "imb": z_imb if gate else 0.0,
            "spread_bps": z_spread if seen >= p.warmup_ms else None, "spread_bps_mean": 1.0,
            "vel": vel[j] / max(math.sqrt(vm), p.velocity_rms_floor) if gate else None,
        })  # fmt: skip
    return rows


def reference_adaptive(records: list[dict[str, Any]], p: RuleProfile) -> list[tuple]:
    """Alerts as reference_alerts' tuples; one profile for every key."""
    by_key: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for rec in sorted(records, key=lambda r: r["event_time"]):
        by_key[(rec["exchange"], rec["symbol"])].append(rec)
    s = {
        "imbalance_medium": p.imbalance_medium, "imbalance_high": p.imbalance_high,
        "imbalance_clear": p.imbalance_clear, "imbalance_high_clear": p.imbalance_high_clear,
        "imbalance_min_duration_ms": p.imbalance_min_duration_ms, "flip_threshold": p.flip_threshold,
        "flip_window_ms": p.flip_window_ms, "spread_widening_k": p.spread_widening_k,
        "spread_min_duration_ms": p.spread_min_duration_ms, "velocity_threshold": p.velocity_threshold,
    }  # fmt: skip
    out = []
    for (exchange, symbol), recs in by_key.items():
        rows = adaptive_scores(recs, p)
        per_type: dict[str, list[tuple]] = defaultdict(list)
        for c in (
            _extremes(rows, s, "medium") + _extremes(rows, s, "high") + _flips(rows, s)
            + _spreads(rows, s) + _velocity(rows, s)
        ):  # fmt: skip
            per_type[c[0]].append(c)
        for found in per_type.values():
            for c in _cooldown(found, p.cooldown_ms):
                out.append((c[0], c[1], exchange, symbol, c[2], c[3], c[4], c[5]))
    return sorted(out)
