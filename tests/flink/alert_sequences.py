"""orderbook.processed sequences for the alerts job: crafted scenarios (one symbol each, so one
bounded run checks them all) with the alerts each must raise, written out by hand, and a random
walk that crosses every threshold often, for the comparison with reference_alerts.py."""

from __future__ import annotations

import random
from typing import Any

from config import AlertSettings

T0 = 1_723_161_240_000

# Per-symbol overrides the crafted scenarios exercise.
OVERRIDES: dict[str, dict[str, float]] = {
    "LLLUSDT": {"imbalance_medium": 0.6, "imbalance_high_clear": 0.65},
    "MMMUSDT": {"imbalance_level": 10},
    "NNNUSDT": {"cooldown_ms": 1_000},
}
CRAFTED_SETTINGS = AlertSettings(profile="seed", overrides=OVERRIDES)  # the seed rules, as reference_alerts


def processed(symbol: str, t: int, seq: int, exchange: str = "binance", **fields: Any) -> dict[str, Any]:
    """A processed record with only the fields the alerts job reads (the others are null)."""
    rec = {
        "schema_version": 1, "exchange": exchange, "market": "usdm" if exchange.endswith("usdm") else "spot",
        "symbol": symbol, "event_time": T0 + t, "receive_time_ns": (T0 + t) * 1_000_000, "sequence_id": seq,
        "mid": None, "spread": None, "imbalance_1": None, "imbalance_20": None,  # required, may be null
        "imbalance_5": None, "imbalance_10": None, "imbalance_velocity": None,
        "spread_bps": None, "spread_bps_mean": None,
    }  # fmt: skip
    rec.update(fields)
    return rec


def _imbalances(symbol: str, points: list[tuple[int, float]], exchange: str = "binance") -> list[dict]:
    return [processed(symbol, t, i, exchange, imbalance_5=x) for i, (t, x) in enumerate(points)]


def _steps(start: int, end: int, value: float, step: int = 100) -> list[tuple[int, float]]:
    return [(t, value) for t in range(start, end + 1, step)]


def _alert(
    kind: str,
    severity: str,
    symbol: str,
    start: int,
    end: int,
    value: float,
    threshold: float,
    exchange: str = "binance",
) -> tuple:
    return (kind, severity, exchange, symbol, T0 + start, T0 + end, value, threshold)


def crafted() -> tuple[list[dict], list[tuple]]:
    """(records, expected alerts) of every scenario."""
    records: list[dict] = []
    expected: list[tuple] = []

    # medium episode, dips into the hysteresis band (0.45) but never below 0.4: confirmed at 1.0 s
    aaa = [(0, 0.1), (100, 0.55), *_steps(200, 1000, 0.45), (1100, 0.52), (1200, 0.3)]
    for exchange in ("binance", "binance_usdm"):  # same symbol on two venues: two keys
        records += _imbalances("AAAUSDT", aaa, exchange)
        expected.append(_alert("imbalance_extreme", "medium", "AAAUSDT", 100, 1100, 0.52, 0.5, exchange))
    # not confirmed long enough: 0.8 s, then cleared
    records += _imbalances("BBBUSDT", [(0, 0.1), *_steps(100, 800, 0.6), (900, 0.3), (1000, 0.3)])
    # a dip below the clear level restarts the clock: 0.5 s + 0.5 s, never 1 s
    records += _imbalances(
        "CCCUSDT", [(0, 0.1), *_steps(100, 500, 0.55), (600, 0.38), *_steps(700, 1100, 0.55), (1200, 0.2)]
    )
    # below the threshold for 3 s
    records += _imbalances("DDDUSDT", _steps(0, 3000, 0.49))
    # severity rises within the cooldown (both raised), a medium within it (suppressed), one after it
    eee = [
        (0, 0.1),
        *_steps(100, 1100, 0.55),
        *_steps(1200, 2200, 0.75),
        (2300, 0.2),
        *_steps(2400, 3400, 0.55),
        (3500, 0.2),
        *_steps(33_000, 34_000, 0.55),
        (34_100, 0.1),
    ]
    records += _imbalances("EEEUSDT", eee)
    expected += [
        _alert("imbalance_extreme", "medium", "EEEUSDT", 100, 1100, 0.55, 0.5),
        _alert("imbalance_extreme", "high", "EEEUSDT", 1200, 2200, 0.75, 0.7),
        _alert("imbalance_extreme", "medium", "EEEUSDT", 33_000, 34_000, 0.55, 0.5),
    ]
    # straight to -0.8: medium and high confirm on the same update, only the high one is raised
    records += _imbalances("FFFUSDT", [(0, 0.0), *_steps(100, 1100, -0.8), (1200, 0.0)])
    expected.append(_alert("imbalance_extreme", "high", "FFFUSDT", 100, 1100, -0.8, 0.7))
    # flip +0.6 -> -0.55 in 1 s; the flip back 1.9 s later falls in the cooldown
    records += _imbalances(
        "GGGUSDT", [(0, 0.0), (100, 0.6), (600, 0.2), (1100, -0.55), (1200, 0.0), (3000, 0.6), (3100, 0.0)]
    )
    expected.append(_alert("imbalance_flip", "high", "GGGUSDT", 100, 1100, -0.55, 0.5))
    # a flip in 5.1 s is too slow; one in 4.9 s is raised
    records += _imbalances(
        "HHHUSDT",
        [
            (0, 0.0),
            (100, 0.6),
            (200, 0.0),
            (5200, -0.6),
            (5300, 0.0),
            (20_000, 0.6),
            (20_100, 0.0),
            (24_900, -0.6),
            (25_000, 0.0),
        ],
    )
    expected.append(_alert("imbalance_flip", "high", "HHHUSDT", 20_000, 24_900, -0.6, 0.5))
    # spread at 2.5x its mean for 1.1 s: raised at 1.0 s
    spread = [(0, 2.0, 2.0), *[(t, 5.0, 2.0) for t in range(100, 1201, 100)], (1300, 2.0, 2.1)]
    records += [
        processed("IIIUSDT", t, i, spread_bps=s, spread_bps_mean=m) for i, (t, s, m) in enumerate(spread)
    ]
    expected.append(_alert("spread_widening", "medium", "IIIUSDT", 100, 1100, 2.5, 2.0))
    # spread at 3x for 0.5 s only
    spread = [(0, 2.0, 2.0), *[(t, 6.0, 2.0) for t in range(100, 601, 100)], (700, 2.0, 2.1), (800, 2.0, 2.1)]
    records += [
        processed("JJJUSDT", t, i, spread_bps=s, spread_bps_mean=m) for i, (t, s, m) in enumerate(spread)
    ]
    # velocity: a spike, its continuation, a new run in the cooldown, one after it
    vel = [
        (0, None),
        (100, 0.01),
        (200, 0.06),
        (300, 0.07),
        (400, 0.0),
        (500, -0.08),
        (600, 0.0),
        (31_000, 0.09),
    ]
    records += [processed("KKKUSDT", t, i, imbalance_velocity=v) for i, (t, v) in enumerate(vel)]
    expected += [
        _alert("velocity_spike", "low", "KKKUSDT", 200, 200, 0.06, 0.05),
        _alert("velocity_spike", "low", "KKKUSDT", 31_000, 31_000, 0.09, 0.05),
    ]
    # overrides: a higher medium threshold for LLLUSDT (AAAUSDT's sequence raises nothing there)
    records += _imbalances("LLLUSDT", aaa)
    # MMMUSDT follows the top-10 imbalance
    records += [
        processed("MMMUSDT", t, i, imbalance_5=0.1, imbalance_10=x)
        for i, (t, x) in enumerate([(0, 0.1), *_steps(100, 1200, 0.8), (1300, 0.1)])
    ]
    expected.append(_alert("imbalance_extreme", "high", "MMMUSDT", 100, 1100, 0.8, 0.7))
    # a 1 s cooldown for NNNUSDT: two velocity runs 1.3 s apart are both raised
    vel = [(0, None), (200, 0.06), (300, 0.0), (1500, 0.06), (1600, 0.0)]
    records += [processed("NNNUSDT", t, i, imbalance_velocity=v) for i, (t, v) in enumerate(vel)]
    expected += [
        _alert("velocity_spike", "low", "NNNUSDT", 200, 200, 0.06, 0.05),
        _alert("velocity_spike", "low", "NNNUSDT", 1500, 1500, 0.06, 0.05),
    ]
    # one source partition carries every symbol: in event-time order, as a topic partition is
    # (a symbol seconds behind the others would be behind the watermark, i.e. late)
    records.sort(key=lambda r: r["event_time"])
    return records, sorted(expected)


def random_processed(
    n: int, *, seed: int, symbols: tuple[str, ...] = ("RNDAUSDT", "RNDBUSDT"), start: int = 0
) -> list[dict]:
    """Imbalance, velocity and spread walks that cross every threshold, with equal event times and
    records up to 0.3 s out of order (within the watermark's bound)."""
    rng = random.Random(seed)
    clock = start
    state = {s: {"imb": 0.0, "spread": 2.0, "mean": 2.0} for s in symbols}
    out = []
    for k in range(n):
        sym = rng.choice(symbols)
        st = state[sym]
        clock += rng.choice([0, 50, 100, 100, 100, 200, 400])
        t = clock - rng.choice([0, 0, 0, 0, 0, 300])
        st["imb"] = max(-1.0, min(1.0, 0.9 * st["imb"] + rng.gauss(0, 0.25)))
        if rng.random() < 0.02:
            st["spread"] = st["mean"] * rng.choice([2.5, 3.0])
        elif rng.random() < 0.1:
            st["spread"] = st["mean"] * rng.uniform(0.8, 1.2)
        st["mean"] = 0.99 * st["mean"] + 0.01 * st["spread"]
        imb = None if rng.random() < 0.02 else round(st["imb"], 3)
        vel = None if rng.random() < 0.1 else rng.choice([0.0, 0.01, 0.04, 0.06, -0.07, 0.2])
        out.append(
            processed(
                sym,
                t,
                10_000 + k,
                imbalance_5=imb,
                imbalance_10=imb,
                imbalance_velocity=vel,
                spread_bps=round(st["spread"], 4),
                spread_bps_mean=round(st["mean"], 4),
            )
        )
    return out
