"""An independent reference of the alerts job, written from the definitions in docs/metrics.md as
plain state machines over each key's updates (not from the SQL): the job's output is compared
with it. Returns the alerts as (alert_type, severity, exchange, symbol, window_start, window_end,
metric_value, threshold) tuples, after the cooldown."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from config import AlertSettings

# The fields of an alert the reference gives, in its tuples' order.
ALERT_FIELDS = (
    "alert_type", "severity", "exchange", "symbol", "window_start", "window_end", "metric_value", "threshold",
)  # fmt: skip
RANK = {"low": 1, "medium": 2, "high": 3}
GRACE_MS = 60_000  # a confirmation must come at most min duration + 60 s after the start


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _extremes(rows: list[dict], s: dict[str, float], severity: str) -> list[tuple]:
    enter = s["imbalance_high"] if severity == "high" else s["imbalance_medium"]
    clear = s["imbalance_high_clear"] if severity == "high" else s["imbalance_clear"]
    found, state, start, confirmed = [], 0, None, False
    for r in rows:
        x = r["imb"]
        if x >= enter:
            new = 1
        elif -x >= enter:
            new = -1
        elif state != 0 and state * x >= clear:
            new = state
        else:
            new = 0
        if new != state:
            start, confirmed = (r["event_time"] if new else None), False
            state = new
            continue
        if state and not confirmed:
            held = r["event_time"] - start
            if s["imbalance_min_duration_ms"] <= held <= s["imbalance_min_duration_ms"] + GRACE_MS:
                confirmed = True
                found.append(("imbalance_extreme", severity, start, r["event_time"], x, enter))
    return found


def _flips(rows: list[dict], s: dict[str, float]) -> list[tuple]:
    t, w = s["flip_threshold"], s["flip_window_ms"]
    found, begin = [], 0
    for j, z in enumerate(rows):
        if abs(z["imb"]) < t:
            continue
        for i in range(begin, j):
            a = rows[i]
            sa = _sign(a["imb"])
            if abs(a["imb"]) < t or sa != -_sign(z["imb"]) or z["event_time"] - a["event_time"] > w:
                continue
            if all(sa * rows[k]["imb"] > -t for k in range(i + 1, j)):
                found.append(("imbalance_flip", "high", a["event_time"], z["event_time"], z["imb"], t))
                begin = j  # the next flip may start at this one's end
                break
    return found


def _spreads(rows: list[dict], s: dict[str, float]) -> list[tuple]:
    found, start, confirmed, prev_on = [], None, False, False
    for r in rows:
        mean, spread = r["spread_bps_mean"], r["spread_bps"]
        on = mean is not None and spread is not None and mean > 0 and spread >= s["spread_widening_k"] * mean
        if on and not prev_on:
            start, confirmed = r["event_time"], False
        elif on and not confirmed:
            held = r["event_time"] - start
            if s["spread_min_duration_ms"] <= held <= s["spread_min_duration_ms"] + GRACE_MS:
                confirmed = True
                found.append(
                    (
                        "spread_widening",
                        "medium",
                        start,
                        r["event_time"],
                        spread / mean,
                        s["spread_widening_k"],
                    )
                )
        prev_on = on
    return found


def _velocity(rows: list[dict], s: dict[str, float]) -> list[tuple]:
    found, prev_on = [], False
    for r in rows:
        v = r["vel"]
        on = v is not None and abs(v) >= s["velocity_threshold"]
        if on and not prev_on:
            found.append(
                ("velocity_spike", "low", r["event_time"], r["event_time"], v, s["velocity_threshold"])
            )
        prev_on = on
    return found


def _cooldown(found: list[tuple], cooldown_ms: float) -> list[tuple]:
    kept, last = [], None
    for c in sorted(found, key=lambda c: (c[3], -RANK[c[1]], c[2])):
        if last is None or RANK[c[1]] > last[1] or c[3] - last[0] >= cooldown_ms:
            kept.append(c)
            last = (c[3], RANK[c[1]])
    return kept


def reference_alerts(records: list[dict[str, Any]], settings: AlertSettings) -> list[tuple]:
    by_key: dict[tuple[str, str, str], list[tuple[int, dict]]] = defaultdict(list)
    for order, rec in enumerate(records):
        by_key[(rec["exchange"], rec["market"], rec["symbol"])].append((order, rec))
    out = []
    for (exchange, _market, symbol), indexed in by_key.items():
        s = settings.for_symbol(symbol)
        indexed.sort(key=lambda p: (p[1]["event_time"], p[0]))
        rows = []
        for _, rec in indexed:
            imb = rec.get(f"imbalance_{int(s['imbalance_level'])}")
            rows.append({
                "event_time": rec["event_time"], "imb": 0.0 if imb is None else imb,
                "vel": rec.get("imbalance_velocity"), "spread_bps": rec.get("spread_bps"),
                "spread_bps_mean": rec.get("spread_bps_mean"),
            })  # fmt: skip
        per_type: dict[str, list[tuple]] = defaultdict(list)
        for c in (
            _extremes(rows, s, "medium")
            + _extremes(rows, s, "high")
            + _flips(rows, s)
            + _spreads(rows, s)
            + _velocity(rows, s)
        ):
            per_type[c[0]].append(c)
        for found in per_type.values():
            for c in _cooldown(found, s["cooldown_ms"]):
                out.append((c[0], c[1], exchange, symbol, c[2], c[3], c[4], c[5]))
    return sorted(out)


def as_tuple(alert: dict[str, Any]) -> tuple:
    """An output alert (a row or a decoded record) in the reference's form."""
    return tuple(alert[f] for f in ALERT_FIELDS)
