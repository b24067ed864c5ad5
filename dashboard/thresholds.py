"""The alert thresholds in force per symbol, as a table: AlertSettings' defaults with each
symbol's overrides applied (the same `for_symbol` the alert job uses). One row per threshold and
one column per symbol, so a long symbol list grows downwards-readable columns, not a wide row."""

from __future__ import annotations

import pandas as pd

from config import AlertSettings
from dashboard.metric_help import THRESHOLDS

OVERRIDE_CSS = "background-color: rgba(240,162,2,0.35); font-weight: 600"


def thresholds_frame(settings: AlertSettings, symbols: list[str]) -> pd.DataFrame:
    """Columns: threshold, meaning, default, then one per symbol."""
    defaults = settings.for_symbol("")
    frame = pd.DataFrame(
        {
            "threshold": list(defaults),
            "meaning": [THRESHOLDS.get(name, "") for name in defaults],
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
