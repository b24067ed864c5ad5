"""What each metric and alert threshold means, in one place: the symbol view's cards and charts, the
overview's column headers and the Settings page all take their labels and help texts from here.

The wording follows docs/metrics.md (the definitions the Flink jobs implement); the parameters in
braces are filled from the settings in force (`MetricsJobSettings`, `AlertSettings`), so a help
text never states a level, window or threshold the jobs do not use.
"""

from __future__ import annotations

from dataclasses import dataclass

from config import MetricsJobSettings


@dataclass(frozen=True)
class MetricHelp:
    label: str
    help: str


# metric -> (label, help); {placeholders} are MetricsJobSettings fields or `level`/`bps`.
_METRICS: dict[str, tuple[str, str]] = {
    "mid": ("Mid", "(best bid + best ask) / 2"),
    "spread_bps": ("Spread bps", "(best ask - best bid) / mid, in basis points"),
    "imbalance": (
        "Imbalance top-{level}",
        "(bid volume - ask volume) / (bid volume + ask volume) over the top {level} levels per side: "
        "+1 = only bids, -1 = only asks",
    ),
    "weighted_imbalance": (
        "Weighted imbalance",
        "imbalance over the top {book_levels} levels with each size weighted by "
        "exp(-λ · distance from mid in bps), λ = {weighted_imbalance_lambda:g}: "
        "near levels count most",
    ),
    "vtob_ratio": (
        "VTOB ratio",
        "volume at the top of book: (best bid size + best ask size) / total size of the top "
        "{vtob_levels} levels per side; near 1 = thin book behind the best prices",
    ),
    "depth": (
        "Depth ±{bps} bps",
        "size resting within {bps} bps of mid: bids at or above mid·(1 - {bps}/10⁴), asks at or "
        "below mid·(1 + {bps}/10⁴). '≥' marks a lower bound: the published levels end inside the "
        "band, so more size may rest there",
    ),
    "imbalance_velocity": (
        "Imbalance velocity /s",
        "change per second of the top-{baseline_imbalance_level} imbalance over the last "
        "{velocity_window_ms} ms (from the earliest update in that window to this one)",
    ),
    "microprice_lean_bps": (
        "Microprice lean bps",
        "(microprice - mid) / mid in bps; microprice = size-weighted mid of the best levels: "
        "where the next trade leans",
    ),
    "ofi": (
        "OFI",
        "order flow imbalance (Cont, Kukanov, Stoikov) between consecutive updates, summed over "
        "the top {ofi_levels} levels: + = buying pressure",
    ),
}

# Alert thresholds of AlertSettings -> meaning, as the alert job applies them (docs/metrics.md).
THRESHOLDS: dict[str, str] = {
    "imbalance_level": "levels per side of the imbalance the alerts watch (imbalance_N)",
    "imbalance_medium": "|imbalance| at which a medium imbalance_extreme episode starts",
    "imbalance_high": "|imbalance| at which a high imbalance_extreme episode starts",
    "imbalance_clear": "|imbalance| below which a medium extreme episode ends",
    "imbalance_high_clear": "|imbalance| below which a high extreme episode ends",
    "imbalance_min_duration_ms": "how long an extreme imbalance must hold before it is raised",
    "flip_threshold": "T: imbalance_flip when imbalance goes from ≥ +T to ≤ -T (or back)",
    "flip_window_ms": "window in which the flip must happen",
    "spread_widening_k": (
        "k: spread_widening when spread_bps ≥ k · spread_bps_mean (its rolling mean over the "
        "metrics job's baseline window, current update included)"
    ),
    "spread_min_duration_ms": "how long the spread must stay wide before it is raised",
    "velocity_threshold": "V: velocity_spike when |imbalance velocity| ≥ V per second",
    "cooldown_ms": "minimum time between two alerts of one type and symbol (unless more severe)",
}


def metric_help(name: str, metrics: MetricsJobSettings, **params: object) -> MetricHelp:
    """Label and help of `name` (a key of the table above) with the settings filled in; `params`
    gives what is per call (`level` of an imbalance, `bps` of a depth band)."""
    label, text = _METRICS[name]
    values = {**metrics.model_dump(), **params}
    return MetricHelp(label.format(**values), text.format(**values))


def glossary(metrics: MetricsJobSettings) -> list[MetricHelp]:
    """Every metric the dashboard shows, for the Settings page (imbalance at its first level and
    depth at its first band stand for the whole family)."""
    family = {"imbalance": {"level": "N"}, "depth": {"bps": "X"}}
    return [metric_help(name, metrics, **family.get(name, {})) for name in _METRICS]
