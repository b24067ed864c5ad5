"""Alert rule profiles: the thresholds of every rule as data, per symbol (alert_rules.py applies
them; docs/alerts.md explains and measures them).

Two profiles:
- `seed`: today's absolute thresholds, exactly AlertSettings and its per-symbol overrides (what the
  streaming alerts job applies; `|imbalance_5| >= 0.7` etc.). On real books it fires hundreds of
  times an hour per symbol, kept for those who want the raw conditions.
- `adaptive` (the default): the same rules against the symbol's own rolling distribution
  (time-weighted, exponential: alert_baseline.py). The imbalance by its rarity: "1 in N", the
  inverse of the fraction of the symbol's recent time at or beyond the value (signed: + bid side);
  a z-score cannot work on it, since it is bounded and often bimodal. The spread by its z-score.
  The velocity in units of the symbol's own volatility of imbalance (RMS of the velocity). A
  warm-up before the baseline is trusted, and a minimum notional depth within 10 bps of the mid so
  a thin top of book cannot trigger. Per-symbol overrides: AlertSettings.adaptive_overrides (`obm
  alerts calibrate` proposes them for a target rate).

In the adaptive profile the thresholds named like the seed's are in those units: imbalance_* and
flip_threshold in N ("1 in N"), spread_widening_k in z, velocity_threshold in RMS; metric_value and
threshold of its alerts are in those units too, the raw values are in the alert's context."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from config import AlertSettings, MetricsJobSettings

RULES = ("imbalance_extreme", "imbalance_flip", "spread_widening", "velocity_spike")
PROFILES = ("seed", "adaptive")
# The seed thresholds' defaults are AlertSettings' (OBM_ALERT_...): defined there only.
_SEED: dict[str, Any] = {name: field.default for name, field in AlertSettings.model_fields.items()}


@dataclass(frozen=True)
class RuleProfile:
    """Every parameter of the rules for one symbol."""

    name: str
    adaptive: bool
    imbalance_level: int = _SEED["imbalance_level"]
    imbalance_medium: float = _SEED["imbalance_medium"]
    imbalance_high: float = _SEED["imbalance_high"]
    imbalance_clear: float = _SEED["imbalance_clear"]
    imbalance_high_clear: float = _SEED["imbalance_high_clear"]
    imbalance_min_duration_ms: int = _SEED["imbalance_min_duration_ms"]
    flip_threshold: float = _SEED["flip_threshold"]
    flip_window_ms: int = _SEED["flip_window_ms"]
    spread_widening_k: float = _SEED["spread_widening_k"]
    spread_min_duration_ms: int = _SEED["spread_min_duration_ms"]
    velocity_threshold: float = _SEED["velocity_threshold"]
    cooldown_ms: int = _SEED["cooldown_ms"]
    # Rules switched on (a rule not listed raises nothing; its state is still kept).
    rules: tuple[str, ...] = RULES
    # Adaptive only. Time constant of the baselines (ms): a value's weight halves in tau * ln 2
    # (not exactly: the decay is rational, see alert_baseline.py).
    baseline_tau_ms: int = 600_000
    # No adaptive condition holds before the key's baseline has this much time in it.
    warmup_ms: int = 120_000
    # (depth_bid_10bps + depth_ask_10bps) * mid at or above this (quote currency, e.g. USDT), or
    # an imbalance condition does not hold (0: no gate; the seed has none).
    min_depth_notional: float = 0.0
    # Floors of the baselines' dispersion: imbalance std, spread std as a fraction of the spread's
    # baseline mean, velocity RMS (per second).
    imbalance_sd_floor: float = 0.02
    spread_sd_floor_frac: float = 0.05
    velocity_rms_floor: float = 0.005
    # Severity of a flip (spread widening: medium, velocity spike: low); a flip, spread widening or
    # velocity spike whose |score| reaches escalate_factor times its threshold is raised as high.
    flip_severity: str = "high"
    escalate_factor: float = math.inf

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# The new default, from `obm alerts calibrate` on the Binance ETHUSDT spot capture (5.8 min) and an
# hour of the simulator (docs/alerts.md): 1 alert on the capture (10.4 an hour), 4 in the simulated
# hour. Imbalance rules in rarity ("1 in N"), spread in z, velocity in RMS units.
ADAPTIVE_DEFAULTS: dict[str, Any] = {
    "imbalance_medium": 50.0,
    "imbalance_high": 250.0,
    "imbalance_clear": 25.0,
    "imbalance_high_clear": 125.0,
    "imbalance_min_duration_ms": 1_000,
    "flip_threshold": 1_000.0,
    "flip_window_ms": 5_000,
    "spread_widening_k": 6.0,
    "spread_min_duration_ms": 1_000,
    "velocity_threshold": 3.5,
    "cooldown_ms": 60_000,
    "min_depth_notional": 50_000.0,
    "flip_severity": "medium",
    "escalate_factor": 5.0,
}

_NUMERIC = {f.name for f in fields(RuleProfile)} - {"name", "adaptive", "rules", "flip_severity"}
SEVERITIES = ("low", "medium", "high")


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    """Settings values (JSON floats) to the profile's field types; unknown names are refused."""
    unknown = set(values) - _NUMERIC - {"rules", "flip_severity"}
    if unknown:
        raise ValueError(f"unknown alert rule parameters: {sorted(unknown)}")
    out: dict[str, Any] = {}
    types = {f.name: f.type for f in fields(RuleProfile)}
    for name, value in values.items():
        if name == "rules":
            out[name] = tuple(value)
        elif name == "flip_severity":
            out[name] = str(value)
        elif types[name] == "int":
            out[name] = int(value)
        else:
            out[name] = float(value)
    return out


def check_profile(p: RuleProfile) -> None:
    """Refuse parameters that cannot describe an alert."""
    where = f" ({p.name})"
    levels = MetricsJobSettings().imbalance_levels  # the levels the metrics job publishes
    if p.imbalance_level not in levels:
        raise ValueError(f"imbalance_level must be one of {', '.join(map(str, levels))}{where}")
    if not p.imbalance_clear < p.imbalance_medium <= p.imbalance_high:
        raise ValueError(f"need imbalance_clear < imbalance_medium <= imbalance_high{where}")
    if not p.imbalance_medium <= p.imbalance_high_clear < p.imbalance_high:
        raise ValueError(f"need imbalance_medium <= imbalance_high_clear < imbalance_high{where}")
    if p.flip_threshold <= 0 or p.velocity_threshold <= 0 or p.spread_widening_k <= 0:
        raise ValueError(f"flip, velocity and spread thresholds must be positive{where}")
    if min(p.imbalance_min_duration_ms, p.spread_min_duration_ms, p.flip_window_ms) <= 0:
        raise ValueError(f"durations and the flip window must be positive{where}")
    if p.escalate_factor < 1:
        raise ValueError(f"escalate_factor must be at least 1{where}")
    if p.cooldown_ms < 0 or p.baseline_tau_ms <= 0 or p.warmup_ms < 0 or p.min_depth_notional < 0:
        raise ValueError(f"cooldown, tau, warm-up and depth must not be negative{where}")
    if p.flip_severity not in SEVERITIES:
        raise ValueError(f"flip_severity must be one of {SEVERITIES}{where}")
    unknown = set(p.rules) - set(RULES)
    if unknown:
        raise ValueError(f"unknown rules {sorted(unknown)}{where}")


def profile_for(symbol: str, settings: AlertSettings, name: str | None = None) -> RuleProfile:
    """The parameters of `symbol` under profile `name` (default: settings.profile)."""
    name = name or settings.profile
    enabled = tuple(r for r in RULES if r in settings.enabled_rules)  # AlertSettings.enabled_rules
    if name == "seed":
        s = settings.for_symbol(symbol)
        values = {k: s[k] for k in _NUMERIC if k in s}
        p = RuleProfile(name="seed", adaptive=False, rules=enabled, **_coerce(values))
    elif name == "adaptive":
        p = RuleProfile(name="adaptive", adaptive=True, rules=enabled, **_coerce(ADAPTIVE_DEFAULTS))
        over = settings.adaptive_overrides
        for key in ("*", symbol.upper()):
            if key in over:
                p = replace(p, **_coerce(over[key]))
    else:
        raise ValueError(f"unknown alert profile {name!r}: one of {PROFILES}")
    check_profile(p)
    return p
