"""Labels and help texts of the metrics and thresholds: one place, the settings in force filled in,
and the spread widening rule the alert job applies (k times the rolling mean, not mean + k std)."""

from __future__ import annotations

import pytest

from config import AlertSettings, MetricsJobSettings
from dashboard.metric_help import THRESHOLDS, glossary, metric_help
from dashboard.thresholds import thresholds_frame

pytestmark = pytest.mark.unit


def test_help_texts_carry_the_settings_in_force():
    metrics = MetricsJobSettings(vtob_levels=7, velocity_window_ms=2_000, weighted_imbalance_lambda=0.25)
    assert metric_help("imbalance", metrics, level=10).label == "Imbalance top-10"
    assert "top 7 levels" in metric_help("vtob_ratio", metrics).help
    assert "2000 ms" in metric_help("imbalance_velocity", metrics).help
    assert "λ = 0.25" in metric_help("weighted_imbalance", metrics).help
    depth = metric_help("depth", metrics, bps=50)
    assert depth.label == "Depth ±50 bps" and "lower bound" in depth.help


def test_every_alert_threshold_has_a_meaning_and_spread_widening_is_k_times_the_mean():
    assert set(THRESHOLDS) == set(AlertSettings().for_symbol(""))
    frame = thresholds_frame(AlertSettings(), []).set_index("threshold")
    spread = frame.loc["spread_widening_k", "meaning"]
    assert "spread_bps ≥ k · spread_bps_mean" in spread
    assert "std" not in spread


def test_the_glossary_names_every_metric_once():
    labels = [m.label for m in glossary(MetricsJobSettings())]
    assert len(labels) == len(set(labels))
    assert {"Weighted imbalance", "VTOB ratio", "Imbalance velocity /s", "Depth ±X bps"} <= set(labels)
    assert all("{" not in m.help for m in glossary(MetricsJobSettings()))
