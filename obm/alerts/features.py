"""The orderbook.processed fields the alert rules read, computed from orderbook.raw records in
Python, for evaluating the rules on a capture or the simulator without a running metrics job.

The definitions are docs/metrics.md's (the metrics job computes them in Flink SQL and Java):
mid, spread_bps, best levels, imbalance_N, depth within 10 and 50 bps, imbalance_velocity (1 s
window) and spread_bps_mean (60 s window), each key's clock being its latest event time. Only the
fields the rules and their context use; tests/alerting compares them with the independent numpy
reference of every metric (tests/flink/reference_metrics.py) on the real capture."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from config import MetricsJobSettings

KEY_FIELDS = ("exchange", "market", "symbol", "event_time", "sequence_id")


def book_fields(rec: dict[str, Any], s: MetricsJobSettings) -> dict[str, Any]:
    """The fields one book determines by itself (null where a side is empty)."""
    n = s.book_levels
    bp, bq = rec["bid_prices"][:n], rec["bid_sizes"][:n]
    ap, aq = rec["ask_prices"][:n], rec["ask_sizes"][:n]
    out: dict[str, Any] = {k: rec[k] for k in KEY_FIELDS}
    if not bp or not ap:
        return out | {"mid": None, "spread_bps": None}
    mid = (bp[0] + ap[0]) / 2
    out.update(
        mid=mid, best_bid=bp[0], best_ask=ap[0], best_bid_size=bq[0], best_ask_size=aq[0],
        spread_bps=(ap[0] - bp[0]) / mid * 1e4,
    )  # fmt: skip
    for level in s.imbalance_levels:
        b, a = math.fsum(bq[:level]), math.fsum(aq[:level])
        out[f"imbalance_{level}"] = (b - a) / (b + a) if b + a != 0 else None
    for pct in s.depth_pcts:
        lo, hi = mid * (1 - pct / 100), mid * (1 + pct / 100)
        sfx = f"{round(pct * 100)}bps"
        out[f"depth_bid_{sfx}"] = math.fsum(q for p, q in zip(bp, bq, strict=True) if p >= lo)
        out[f"depth_ask_{sfx}"] = math.fsum(q for p, q in zip(ap, aq, strict=True) if p <= hi)
    return out


@dataclass
class KeyWindows:
    """One key's clock and the windows of velocity and the spread's rolling mean."""

    clock: int | None = None
    imbalance: deque[tuple[int, float]] = field(default_factory=deque)  # (clock time, I), non-null
    spreads: deque[tuple[int, float | None]] = field(default_factory=deque)


def processed_records(raws: list[dict[str, Any]], s: MetricsJobSettings | None = None) -> list[dict]:
    """The rule inputs of each raw record, in the same order (each key's updates in arrival order)."""
    s = s or MetricsJobSettings()
    keys: dict[tuple[str, str], KeyWindows] = {}
    ref = f"imbalance_{s.baseline_imbalance_level}"
    out = []
    for raw in raws:
        rec = book_fields(raw, s)
        w = keys.setdefault((raw["exchange"], raw["symbol"]), KeyWindows())
        t = raw["event_time"] if w.clock is None else max(w.clock, raw["event_time"])
        w.clock = t
        imb = rec.get(ref)
        while w.imbalance and w.imbalance[0][0] < t - s.velocity_window_ms:
            w.imbalance.popleft()
        rec["imbalance_velocity"] = None
        if imb is not None and w.imbalance and w.imbalance[0][0] < t:
            first_t, first = w.imbalance[0]
            rec["imbalance_velocity"] = (imb - first) / ((t - first_t) / 1000)
        if imb is not None:
            w.imbalance.append((t, imb))
        w.spreads.append((t, rec["spread_bps"]))
        while w.spreads[0][0] < t - s.baseline_window_ms:
            w.spreads.popleft()
        values = [v for _, v in w.spreads if v is not None]
        rec["spread_bps_mean"] = math.fsum(values) / len(values) if values else None
        out.append(rec)
    return out
