"""The alert thresholds in force per symbol, as a table: AlertSettings' defaults with each
symbol's overrides applied (the same `for_symbol` the alert job uses). One row per threshold and
one column per symbol, so a long symbol list grows downwards-readable columns, not a wide row."""

from __future__ import annotations

import pandas as pd

from config import AlertSettings

OVERRIDE_CSS = "background-color: rgba(240,162,2,0.35); font-weight: 600"

MEANINGS = {
    "imbalance_level": "levels per side in the imbalance the alerts watch",
    "imbalance_medium": "|imbalance| for a medium imbalance_extreme alert",
    "imbalance_high": "|imbalance| for a high imbalance_extreme alert",
    "imbalance_clear": "|imbalance| below which an extreme condition ends",
    "imbalance_min_duration_ms": "how long the imbalance must hold",
    "flip_threshold": "|imbalance| on both sides for an imbalance_flip",
    "flip_window_ms": "window in which the flip must happen",
    "spread_widening_k": "spread above mean + k std for spread_widening",
    "spread_min_duration_ms": "how long the spread must stay wide",
    "velocity_threshold": "|imbalance change per second| for velocity_spike",
    "cooldown_ms": "minimum time between two alerts of one kind and symbol",
}


def thresholds_frame(settings: AlertSettings, symbols: list[str]) -> pd.DataFrame:
    """Columns: threshold, meaning, default, then one per symbol."""
    defaults = settings.for_symbol("")
    frame = pd.DataFrame(
        {
            "threshold": list(defaults),
            "meaning": [MEANINGS.get(name, "") for name in defaults],
            "default": list(defaults.values()),
        }
    )
    for symbol in symbols:
        per_symbol = settings.for_symbol(symbol)
        frame[symbol] = [per_symbol[name] for name in defaults]
    return frame


def overridden_cells(settings: AlertSettings, frame: pd.DataFrame) -> pd.DataFrame:
    """A frame of CSS of the same shape: highlighted where a symbol overrides the default."""
    css = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for symbol in frame.columns[3:]:
        overrides = settings.overrides.get(str(symbol).upper(), {})
        for i, name in frame["threshold"].items():
            if name in overrides:
                css.loc[i, symbol] = OVERRIDE_CSS
    return css
