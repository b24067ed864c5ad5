"""The alert thresholds and the rule profile of the alerts job."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from config.settings.base import env_config


class AlertSettings(BaseSettings):
    """Alert thresholds; per-symbol overrides as JSON, e.g.
    OBM_ALERT_OVERRIDES='{"BTCUSDT": {"imbalance_high": 0.8}}'."""

    model_config = env_config("OBM_ALERT_")

    imbalance_level: int = 5
    imbalance_medium: float = 0.5
    imbalance_high: float = 0.7
    # Hysteresis: a medium episode ends only when |imbalance| falls below this.
    imbalance_clear: float = 0.4
    # The same for a high episode (between imbalance_clear and imbalance_high).
    imbalance_high_clear: float = 0.6
    imbalance_min_duration_ms: int = 1_000
    flip_threshold: float = 0.5
    flip_window_ms: int = 5_000
    spread_widening_k: float = 2.0
    spread_min_duration_ms: int = 1_000
    velocity_threshold: float = 0.05
    cooldown_ms: int = 30_000
    overrides: dict[str, dict[str, float]] = Field(default_factory=dict)
    # The rule profile of the alert rules engine (flink_jobs/alert_rules.py, `obm alerts
    # evaluate`): seed = the absolute thresholds above; adaptive = against each symbol's own rolling
    # distribution (docs/alerts.md). The SQL alerts job applies the seed thresholds either way.
    profile: Literal["seed", "adaptive"] = "adaptive"
    # Per-symbol parameters of the adaptive profile ("*" for all symbols), as `obm alerts
    # calibrate` proposes them, e.g. '{"ETHUSDT": {"imbalance_medium": 3.5}}'.
    adaptive_overrides: dict[str, dict[str, float]] = Field(default_factory=dict)

    def for_symbol(self, symbol: str) -> dict[str, float]:
        base = self.model_dump(exclude={"overrides", "profile", "adaptive_overrides"})
        base.update(self.overrides.get(symbol.upper(), {}))
        return base
