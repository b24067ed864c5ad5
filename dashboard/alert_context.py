"""Why an alert fired, in two short lines for the alert feed and the symbol view: the value that
fired it against the symbol's own baseline (and its percentile there), and the book at that moment.

The lines are read from the alert's `context` (orderbook.alerts, docs/alerts.md "Context"), which
comes as a dict from Redis and from PostgreSQL's jsonb column alike. Alerts without one (stored
before it existed, user rules) get empty lines: the message still says what happened. Pure logic,
unit-tested in tests/dashboard/test_dashboard_alert_context.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from dashboard.formatting import format_price, is_missing

IMBALANCE_RULES = ("imbalance_extreme", "imbalance_flip")


def context_of(ctx: Any) -> dict[str, Any] | None:
    """An alert's `context` value as a dict, or None when it has none (absent, null, NaN from a
    frame). A JSON text is decoded too (a driver that hands jsonb back as text)."""
    if isinstance(ctx, str | bytes):
        try:
            ctx = orjson.loads(ctx)
        except orjson.JSONDecodeError:
            return None
    return dict(ctx) if isinstance(ctx, Mapping) and ctx else None


def _num(value: Any, spec: str) -> str | None:
    return None if is_missing(value) else format(float(value), spec)


def _size(value: Any) -> str:
    """A size or a notional, short: 1.25, 840, 12.3k, 4.1M."""
    if is_missing(value):
        return "—"
    v = float(value)
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if abs(v) >= scale:
            return f"{v / scale:.3g}{unit}"
    return f"{v:.3g}"


def why_line(alert_type: str, context: Mapping[str, Any] | None) -> str:
    """The value against the symbol's baseline: e.g. "imbalance -0.870 vs usual +0.030 ± 0.600,
    percentile 3.6, 1 in 27 · 397k within 10 bps" (adaptive), or "value +0.740 (seed thresholds)"."""
    if not context:
        return ""
    value, score = context.get("value"), context.get("score")
    mean, std = context.get("baseline_mean"), context.get("baseline_std")
    pct = context.get("percentile")
    parts: list[str] = []
    if alert_type in IMBALANCE_RULES:
        head = f"imbalance {_num(value, '+.3f') or '—'}"
    elif alert_type == "spread_widening":
        head = f"spread {_num(value, '.2f') or '—'} bps"
    elif alert_type == "velocity_spike":
        head = f"velocity {_num(value, '+.3f') or '—'}/s"
    else:
        head = f"value {_num(value, '+.4g') or '—'}"
    if mean is not None and std is not None:
        digits = ".2f" if alert_type == "spread_widening" else "+.3f"
        head += f" vs usual {format(float(mean), digits)} ± {float(std):.3f}"
    elif context.get("baseline_rms") is not None and score is not None:
        head += f", {abs(float(score)):.1f}x its usual {float(context['baseline_rms']):.3f}/s"
    parts.append(head)
    if pct is not None:
        parts.append(f"percentile {100 * float(pct):.1f}")
    if context.get("profile") == "adaptive" and score is not None:
        if alert_type in IMBALANCE_RULES:
            parts.append(f"1 in {abs(float(score)):.0f}")
        elif alert_type == "spread_widening":
            parts.append(f"z {float(score):.1f}")
    line = ", ".join(parts)
    if context.get("depth_notional_10bps") is not None:
        line += f" · {_size(context['depth_notional_10bps'])} within 10 bps"
    if context.get("profile") == "seed":
        line += " (seed thresholds)"
    return line


def book_line(context: Mapping[str, Any] | None) -> str:
    """The book at the alert, compact: "mid 2,612.35 · 2,612.34 × 1.2 | 2,612.36 × 3.4 · 0.04 bps
    · 10 bps 120 | 150 · 50 bps 800 | 900" (bid | ask; depths in base units)."""
    book = (context or {}).get("book")
    if not isinstance(book, Mapping) or all(is_missing(v) for v in book.values()):
        return ""
    parts = [f"mid {format_price(book.get('mid'))}"]
    bid, ask = book.get("best_bid"), book.get("best_ask")
    if not (is_missing(bid) and is_missing(ask)):
        parts.append(
            f"{format_price(bid)} × {_size(book.get('best_bid_size'))} | "
            f"{format_price(ask)} × {_size(book.get('best_ask_size'))}"
        )
    if not is_missing(book.get("spread_bps")):
        parts.append(f"{float(book['spread_bps']):.2f} bps")
    for bps in (10, 50):
        b, a = book.get(f"depth_bid_{bps}bps"), book.get(f"depth_ask_{bps}bps")
        if not (is_missing(b) and is_missing(a)):
            parts.append(f"{bps} bps {_size(b)} | {_size(a)}")
    return " · ".join(parts)


def hover_text(message: Any, alert_type: str, context: Any) -> str:
    """A chart marker's hover: the message, then why and the book when the alert has a context."""
    ctx = context_of(context)
    lines = [str(message or ""), why_line(alert_type, ctx), book_line(ctx)]
    return "<br>".join(line for line in lines if line)
