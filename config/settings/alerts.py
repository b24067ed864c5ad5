"""The alert thresholds and the rule profile of the alerts job."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
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
    # distribution (docs/alerts.md). The streaming alerts job (its Java engine) and `obm alerts
    # evaluate` both apply it.
    profile: Literal["seed", "adaptive"] = "adaptive"
    # The alert types switched on, in either profile (a type not listed raises nothing), e.g.
    # '["imbalance_extreme", "spread_widening"]'; per symbol, an adaptive override's "rules".
    enabled_rules: list[str] = Field(
        default_factory=lambda: ["imbalance_extreme", "imbalance_flip", "spread_widening", "velocity_spike"]
    )
    # Per-symbol parameters of the adaptive profile ("*" for all symbols), as `obm alerts
    # calibrate` proposes them, e.g. '{"ETHUSDT": {"imbalance_medium": 3.5}}'.
    # (numbers; "rules": the alert types on for that symbol; "flip_severity": low|medium|high).
    adaptive_overrides: dict[str, dict[str, float | str | list[str]]] = Field(default_factory=dict)

    @field_validator("enabled_rules")
    @classmethod
    def _known_rules(cls, value: list[str]) -> list[str]:
        from flink_jobs.alert_profiles import RULES  # the one list of alert types

        unknown = sorted(set(value) - set(RULES))
        if unknown:
            raise ValueError(f"unknown alert types {unknown}; known: {list(RULES)}")
        return value

    def for_symbol(self, symbol: str) -> dict[str, float]:
        base = self.model_dump(exclude={"overrides", "profile", "adaptive_overrides", "enabled_rules"})
        base.update(self.overrides.get(symbol.upper(), {}))
        return base
