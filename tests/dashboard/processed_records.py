"""Full orderbook.processed records for the dashboard tests: the seed's subset plus the
book-shape metrics the dashboard shows, computed from the book by the definitions of
docs/metrics.md (default MetricsJobSettings), so a page that shows them can be checked."""

from __future__ import annotations

import math
from typing import Any

from bench import dashboard_seed as seed
from config import MetricsJobSettings

# The context of the market's first alert, as an adaptive alert carries it (docs/alerts.md).
ALERT_CONTEXT = {
    "profile": "adaptive", "score": 61.0, "value": 0.8312, "baseline_mean": -0.0417, "baseline_std": 0.4402,
    "percentile": 0.9874, "baseline_rms": None, "depth_notional_10bps": 2_480_000.0,
    "book": {"mid": 61012.5, "best_bid": 61012.4, "best_ask": 61012.6, "best_bid_size": 3.2,
             "best_ask_size": 0.41, "spread_bps": 0.0328, "depth_bid_10bps": 31.5, "depth_ask_10bps": 9.2,
             "depth_bid_50bps": 120.0, "depth_ask_50bps": 88.5},
}  # fmt: skip


def full_processed(book: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """seed.processed_of plus the book-shape metrics, by the definitions of docs/metrics.md with
    the default MetricsJobSettings: weighted imbalance, VTOB ratio, depth and its completeness per
    band, and the imbalance velocity against `previous` (the record one update earlier)."""
    settings = MetricsJobSettings()
    record = seed.processed_of(book)
    bp, bs, ap, as_ = book["bid_prices"], book["bid_sizes"], book["ask_prices"], book["ask_sizes"]
    mid = record["mid"]
    n = settings.book_levels

    def weight(p: float) -> float:
        return math.exp(-settings.weighted_imbalance_lambda * abs(p - mid) / mid * 1e4)

    wb = sum(q * weight(p) for p, q in zip(bp[:n], bs[:n], strict=True))
    wa = sum(q * weight(p) for p, q in zip(ap[:n], as_[:n], strict=True))
    record["weighted_imbalance"] = (wb - wa) / (wb + wa)
    v = settings.vtob_levels
    record["vtob_ratio"] = (bs[0] + as_[0]) / (sum(bs[:v]) + sum(as_[:v]))
    for pct in settings.depth_pcts:
        bps = round(pct * 100)
        low, high = mid * (1 - pct / 100), mid * (1 + pct / 100)
        record[f"depth_bid_{bps}bps"] = sum(q for p, q in zip(bp[:n], bs[:n], strict=True) if p >= low)
        record[f"depth_ask_{bps}bps"] = sum(q for p, q in zip(ap[:n], as_[:n], strict=True) if p <= high)
        record[f"depth_complete_{bps}bps"] = bp[:n][-1] <= low and ap[:n][-1] >= high
    level = f"imbalance_{settings.baseline_imbalance_level}"
    if previous is not None and record["event_time"] > previous["event_time"]:
        dt_s = (record["event_time"] - previous["event_time"]) / 1000
        record["imbalance_velocity"] = (record[level] - previous[level]) / dt_s
    return record


def processed_history(tape: seed.SymbolTape, seconds: int, step: int) -> list[dict[str, Any]]:
    """Full processed records every `step` seconds of the tape, velocity between neighbours."""
    history: list[dict[str, Any]] = []
    for i in range(0, seconds, step):
        history.append(full_processed(seed.book_at(tape, i), history[-1] if history else None))
    return history
