"""How numbers, ages and severities look on screen, in one place so every page agrees.

Colours follow one rule across the app: green = bid-heavy (buyers lean), red = ask-heavy, and the
intensity grows with the alert thresholds in force, so a cell turns strong exactly where an alert
would fire. Ages turn amber, then red, as data goes stale.
"""

from __future__ import annotations

import math
from typing import Any

SEVERITY_COLOURS: dict[str, str] = {"low": "#5b8def", "medium": "#f0a202", "high": "#e5383b"}
BID_COLOUR = "#2a9d8f"
ASK_COLOUR = "#e76f51"
MID_COLOUR = "#8d99ae"
MICROPRICE_COLOUR = "#ffb703"

# Data older than this many seconds is shown amber, and red beyond the second figure.
AGE_WARN_S = 5.0
AGE_STALE_S = 30.0


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def plural(count: int, word: str) -> str:
    """'1 alert', '3 alerts'."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def time_ago(then_ms: int | float | None, now_ms: int | float) -> str:
    """'just now', '12 s ago', '4 min ago', '3 h ago', '2 d ago'; a dash when unknown."""
    if is_missing(then_ms):
        return "—"
    assert then_ms is not None
    delta_s = (now_ms - then_ms) / 1000.0
    if delta_s < 0:
        return "in the future"
    if delta_s < 1:
        return "just now"
    if delta_s < 60:
        return f"{int(delta_s)} s ago"
    if delta_s < 3_600:
        return f"{int(delta_s // 60)} min ago"
    if delta_s < 86_400:
        return f"{int(delta_s // 3_600)} h ago"
    return f"{int(delta_s // 86_400)} d ago"


def price_decimals(price: float | None) -> int:
    """Enough decimals to see a tick move: 2 for BTC-sized prices, up to 6 for sub-cent coins."""
    if is_missing(price) or price == 0:
        return 2
    assert price is not None
    magnitude = math.floor(math.log10(abs(price)))
    return int(min(8, max(2, 4 - magnitude)))


def format_price(price: float | None) -> str:
    if is_missing(price):
        return "—"
    assert price is not None
    return f"{price:,.{price_decimals(price)}f}"


def format_signed(value: float | None, digits: int = 3) -> str:
    if is_missing(value):
        return "—"
    assert value is not None
    return f"{value:+.{digits}f}"


def format_age(age_s: float | None) -> str:
    if is_missing(age_s):
        return "expired"
    assert age_s is not None
    if age_s < 10:
        return f"{age_s:.1f} s"
    if age_s < 120:
        return f"{age_s:.0f} s"
    return f"{age_s / 60:.0f} min"


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha:.2f})"


def imbalance_css(value: Any, medium: float, high: float) -> str:
    """Background for an imbalance cell: faint below the medium threshold, strong at high."""
    if is_missing(value):
        return "color: #9aa0a6"
    v = float(value)
    colour = BID_COLOUR if v >= 0 else ASK_COLOUR
    mag = abs(v)
    if mag >= high:
        alpha = 0.85
    elif mag >= medium:
        alpha = 0.5
    else:
        alpha = 0.08 + 0.3 * (mag / medium if medium > 0 else 0.0)
    text = "color: white; font-weight: 600" if mag >= high else ""
    return f"background-color: {_rgba(colour, alpha)}; {text}".strip()


def signed_css(value: Any) -> str:
    """Text colour by sign, for OFI and microprice lean (no threshold applies to them)."""
    if is_missing(value) or float(value) == 0:
        return ""
    return f"color: {BID_COLOUR if float(value) > 0 else ASK_COLOUR}"


def spread_css(value: Any, typical_bps: float) -> str:
    """Spread wider than `typical_bps` (the median across symbols) by 2x is amber, by 4x red."""
    if is_missing(value) or typical_bps <= 0:
        return ""
    ratio = float(value) / typical_bps
    if ratio >= 4:
        return f"background-color: {_rgba(SEVERITY_COLOURS['high'], 0.55)}"
    if ratio >= 2:
        return f"background-color: {_rgba(SEVERITY_COLOURS['medium'], 0.45)}"
    return ""


def age_css(age_s: Any) -> str:
    if is_missing(age_s):
        return f"background-color: {_rgba(SEVERITY_COLOURS['high'], 0.35)}"
    if float(age_s) >= AGE_STALE_S:
        return f"background-color: {_rgba(SEVERITY_COLOURS['high'], 0.35)}"
    if float(age_s) >= AGE_WARN_S:
        return f"background-color: {_rgba(SEVERITY_COLOURS['medium'], 0.35)}"
    return ""


def severity_css(severity: Any) -> str:
    colour = SEVERITY_COLOURS.get(str(severity))
    return f"color: {colour}; font-weight: 600" if colour else ""
