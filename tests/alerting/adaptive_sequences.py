"""Crafted processed records for the adaptive rules, one symbol per scenario: a 90 s baseline (one
update a second, a deterministic wiggle around a level), then an event in 100 ms steps. The same
event raises an alert where it is unusual for the symbol and nothing where it is ordinary, in a
thin book or before the warm-up."""

from __future__ import annotations

import math
from typing import Any

from flink.alert_sequences import T0, processed

from flink_jobs.alert_profiles import RuleProfile

# Explicit parameters, so the tests do not move with the default profile.
PROFILE = RuleProfile(
    name="adaptive", adaptive=True, imbalance_medium=50.0, imbalance_high=200.0, imbalance_clear=20.0,
    imbalance_high_clear=100.0, flip_threshold=100.0, spread_widening_k=6.0, velocity_threshold=6.0,
    cooldown_ms=30_000, baseline_tau_ms=300_000, warmup_ms=60_000, min_depth_notional=50_000.0,
    flip_severity="high",
)  # fmt: skip
EVENT_MS = 90_000


def _wiggle(k: int) -> float:
    """A deterministic quasi-random pattern in [-1, 1] (sd ~0.7, so no baseline update is more
    than ~1.5 sd out once a few have been seen; the expectations are written by hand)."""
    return math.sin(2.4 * k)


def _record(
    symbol: str, t: int, k: int, imb: float, vel: float, spread: float, depth: float
) -> dict[str, Any]:
    return processed(
        symbol, t, k, imbalance_5=imb, imbalance_velocity=vel, spread_bps=spread, spread_bps_mean=spread,
        mid=2_500.0, depth_bid_10bps=depth / 2, depth_ask_10bps=depth / 2,
    )  # fmt: skip


def scenario(
    symbol: str, event: list[tuple[int, float, float, float]], *, imb_amp: float = 0.05,
    vel_amp: float = 0.02, depth: float = 40.0, event_at: int = EVENT_MS,
) -> list[dict]:  # fmt: skip
    """Baseline (imbalance 0.1 +- imb_amp, velocity +- vel_amp, spread 2 bps +- 0.02) up to
    event_at, then the event: (ms after event_at, imbalance, velocity, spread), then calm again."""
    out = []
    for k, t in enumerate(range(0, event_at, 1_000)):
        w = _wiggle(k)
        out.append(_record(symbol, t, k, 0.1 + imb_amp * w, vel_amp * w, 2.0 + 0.02 * w, depth))
    for dt, imb, vel, spread in event:
        out.append(_record(symbol, event_at + dt, len(out), imb, vel, spread, depth))
    last = event_at + event[-1][0]
    for i in range(1, 4):
        out.append(_record(symbol, last + 1_000 * i, len(out), 0.1, 0.0, 2.0, depth))
    return out


def _steps(start: int, end: int, imb: float, vel: float = 0.0, spread: float = 2.0) -> list[tuple]:
    return [(t, imb, vel, spread) for t in range(start, end + 1, 100)]


JUMP = [(0, 0.7, 0.6, 2.0), *_steps(100, 1_500, 0.7)]
FLIP = [(0, 0.7, 0.6, 2.0), (100, 0.4, 0.0, 2.0), (1_000, -0.5, -1.2, 2.0), (1_100, 0.1, 0.0, 2.0)]
WIDE = _steps(0, 1_500, 0.1, 0.0, 3.0)


def crafted() -> tuple[list[dict], list[tuple[str, str, str, int, int]]]:
    """(records, expected alerts as (type, severity, symbol, start, end) in ms after T0)."""
    records: list[dict] = []
    expected = []
    # A calm symbol: a jump to 0.7 is unusual; medium and high confirm together (only high), and
    # the velocity of 0.6/s is ~30 times its RMS.
    records += scenario("QUIETUSDT", JUMP)
    expected += [
        ("imbalance_extreme", "high", "QUIETUSDT", EVENT_MS, EVENT_MS + 1_000),
        ("velocity_spike", "low", "QUIETUSDT", EVENT_MS, EVENT_MS),
    ]
    # The same event on a symbol whose imbalance swings +-0.8 and velocity +-1/s: ordinary (its
    # imbalance is at or above 0.7 about a quarter of the time: "1 in 4").
    records += scenario("NOISYUSDT", JUMP, imb_amp=0.8, vel_amp=1.0)
    # A thin book (notional 2 * 2500 * 5 = 12.5k < 50k): nothing from the imbalance rules.
    records += scenario("THINUSDT", JUMP, depth=5.0)
    # Before the warm-up (the event at 20 s): nothing.
    records += scenario("EARLYUSDT", JUMP, event_at=20_000)
    # The spread from 2 to 3 bps for 1.5 s: z = 1 / (0.05 * 2) = ~10 >= 6, confirmed after 1 s.
    records += scenario("WIDEUSDT", WIDE)
    expected.append(("spread_widening", "medium", "WIDEUSDT", EVENT_MS, EVENT_MS + 1_000))
    # +0.7 then -0.5 one second later on a calm symbol: a flip; a velocity spike each way (the
    # second one a new run after a calm update, but within the cooldown).
    records += scenario("FLIPUSDT", FLIP)
    expected += [
        ("imbalance_flip", "high", "FLIPUSDT", EVENT_MS, EVENT_MS + 1_000),
        ("velocity_spike", "low", "FLIPUSDT", EVENT_MS, EVENT_MS),
    ]
    records.sort(key=lambda r: r["event_time"])
    return records, sorted((k, s, sym, T0 + a, T0 + b) for k, s, sym, a, b in expected)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
