"""An independent reference of every metric of orderbook.processed, in numpy, written from the
definitions in docs/metrics.md (not from the SQL): the Flink job's output is compared with it."""

from __future__ import annotations

import math
from collections import defaultdict
from fractions import Fraction
from typing import Any

import numpy as np

from config import MetricsJobSettings


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else num / den


def book_metrics(rec: dict[str, Any], s: MetricsJobSettings) -> dict[str, Any]:
    """Metrics one book determines by itself."""
    L = s.book_levels
    bp, bq = np.array(rec["bid_prices"][:L], float), np.array(rec["bid_sizes"][:L], float)
    ap, aq = np.array(rec["ask_prices"][:L], float), np.array(rec["ask_sizes"][:L], float)
    out: dict[str, Any] = {
        "best_bid": bp[0] if len(bp) else None,
        "best_ask": ap[0] if len(ap) else None,
        "best_bid_size": bq[0] if len(bq) else None,
        "best_ask_size": aq[0] if len(aq) else None,
    }
    keys = [
        "mid",
        "spread",
        "spread_bps",
        "weighted_imbalance",
        "microprice",
        "microprice_lean_bps",
        "vtob_ratio",
    ]
    keys += [f"imbalance_{n}" for n in s.imbalance_levels]
    for pct in s.depth_pcts:
        keys += [f"depth_{k}_{round(pct * 100)}bps" for k in ("bid", "ask", "complete")]
    if not len(bp) or not len(ap):
        return out | dict.fromkeys(keys)
    mid = (bp[0] + ap[0]) / 2
    out["mid"] = mid
    out["spread"] = ap[0] - bp[0]
    out["spread_bps"] = (ap[0] - bp[0]) / mid * 1e4
    for n in s.imbalance_levels:
        b, a = bq[:n].sum(), aq[:n].sum()
        out[f"imbalance_{n}"] = _ratio(b - a, b + a)
    lam = s.weighted_imbalance_lambda
    wb = float((bq * np.exp(-lam * np.abs(bp - mid) / mid * 1e4)).sum())
    wa = float((aq * np.exp(-lam * np.abs(ap - mid) / mid * 1e4)).sum())
    out["weighted_imbalance"] = _ratio(wb - wa, wb + wa)
    micro = _ratio(ap[0] * bq[0] + bp[0] * aq[0], bq[0] + aq[0])
    out["microprice"] = micro
    out["microprice_lean_bps"] = None if micro is None else _lean_bps(bp[0], bq[0], ap[0], aq[0])
    v = s.vtob_levels
    out["vtob_ratio"] = _ratio(bq[0] + aq[0], bq[:v].sum() + aq[:v].sum())
    for pct in s.depth_pcts:
        sfx = f"{round(pct * 100)}bps"
        lo, hi = mid * (1 - pct / 100), mid * (1 + pct / 100)
        out[f"depth_bid_{sfx}"] = float(bq[bp >= lo].sum())
        out[f"depth_ask_{sfx}"] = float(aq[ap <= hi].sum())
        out[f"depth_complete_{sfx}"] = bool(bp[-1] <= lo and ap[-1] >= hi)
    return out


def _lean_bps(bid: float, bid_size: float, ask: float, ask_size: float) -> float:
    """(microprice - mid) / mid * 10^4 exactly (rationals over the doubles), rounded once: the
    difference of two prices that agree to 6-7 digits, taken as written."""
    b, qb, a, qa = (Fraction(float(v)) for v in (bid, bid_size, ask, ask_size))
    micro = (a * qb + b * qa) / (qb + qa)
    mid = (b + a) / 2
    return float((micro - mid) / mid * 10_000)


def _ofi(cur: dict[str, Any], prev: dict[str, Any], levels: int) -> float:
    """Cont-Kukanov-Stoikov flow summed over levels; a side counts at a level only when that
    level exists in both books."""
    total = 0.0
    for i in range(levels):
        for side, sign in (("bid", 1), ("ask", -1)):
            p, q = cur[f"{side}_prices"], cur[f"{side}_sizes"]
            pp, pq = prev[f"{side}_prices"], prev[f"{side}_sizes"]
            if i >= len(p) or i >= len(pp):
                continue
            if sign == 1:
                total += (q[i] if p[i] >= pp[i] else 0.0) - (pq[i] if p[i] <= pp[i] else 0.0)
            else:
                total += -(q[i] if p[i] <= pp[i] else 0.0) + (pq[i] if p[i] >= pp[i] else 0.0)
    return total


def _window_stats(values: np.ndarray, x: float) -> tuple[float | None, float | None, float | None]:
    """Mean, population std and z of x over the window, two-pass: numpy's mean m, then the
    deviations d = v - m (exact for values near m). The mean as a double is off by up to half an
    ulp of |mean|, which z = (x - mean)/std would divide by a std that may be 1e-6 of the mean, so
    the deviations' own mean (what m missed) is carried: mean = m + mean(d), std over d - mean(d),
    z = ((x - m) - mean(d)) / std. z is None by the floor rule of docs/metrics.md."""
    vals = values[~np.isnan(values)]
    if not len(vals):
        return None, None, None
    m = vals.mean()
    d = vals - m
    dm = d.mean()
    mean, std = float(m + dm), float(np.sqrt(np.mean((d - dm) ** 2)))
    z = None
    if std > 1e-7 * abs(mean) + 1e-12 and not math.isnan(x):
        z = float(((x - m) - dm) / std)
    return mean, std, z


def reference_metrics(
    records: list[dict[str, Any]], s: MetricsJobSettings
) -> dict[tuple[str, str, int], dict]:
    """Expected output per (exchange, symbol, sequence_id).

    Per key, updates are taken in arrival order (the exchange's order for one symbol). The key's
    clock is the latest event time seen so far; an update older than it counts at the clock. A
    window holds the updates received so far whose (clock) time is within W of this update's."""
    by_key: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for rec in records:
        by_key[(rec["exchange"], rec["symbol"])].append(rec)
    expected = {}
    for key, recs in by_key.items():
        times = np.maximum.accumulate(np.array([r["event_time"] for r in recs], dtype=np.int64))
        books = [book_metrics(r, s) for r in recs]
        ref = f"imbalance_{s.baseline_imbalance_level}"
        imb = np.array([np.nan if b[ref] is None else b[ref] for b in books])
        spread = np.array([np.nan if b["spread_bps"] is None else b["spread_bps"] for b in books])
        for j, (rec, book) in enumerate(zip(recs, books, strict=True)):
            out = dict(book)
            has_prev = j > 0 and book["mid"] is not None
            out["ofi_1"] = _ofi(rec, recs[j - 1], 1) if has_prev else None
            out[f"ofi_{s.ofi_levels}"] = _ofi(rec, recs[j - 1], s.ofi_levels) if has_prev else None
            t = times[j]
            seen = np.arange(len(recs)) <= j
            vel_rows = np.nonzero(seen & (times >= t - s.velocity_window_ms) & ~np.isnan(imb))[0]
            out["imbalance_velocity"] = None
            if len(vel_rows) and times[vel_rows[0]] < t and not np.isnan(imb[j]):
                first = vel_rows[0]
                out["imbalance_velocity"] = (imb[j] - imb[first]) / ((t - times[first]) / 1000)
            win = seen & (times >= t - s.baseline_window_ms)
            for name, series in (("spread_bps", spread), ("imbalance", imb)):
                stats = _window_stats(series[win], series[j])
                out[f"{name}_mean"], out[f"{name}_std"], out[f"{name}_z"] = stats
            expected[(key[0], key[1], rec["sequence_id"])] = out
    return expected
