"""The rules' measured hit rates of the alert feed (dashboard/hit_rates.py), against plain loops
over every update: an alert's forward move from the few updates that decide it equals the move
over the whole path (and `obm alerts evaluate`'s MidPath over it), the unconditional baseline of
1 s closes equals a direct count, and the table says "n too small" below the minimum."""

from __future__ import annotations

import random

import pytest

from dashboard.hit_rates import (
    HIT_HORIZONS_MS,
    MIN_NONZERO_MOVES,
    AlertMids,
    alert_move,
    baseline_moves,
    hit_rate_table,
    rule_moves,
)
from obm.alerts.evaluation import MidPath

pytestmark = pytest.mark.unit


def _updates(rng: random.Random, n: int, start: int = 1_000_000) -> list[tuple[int, float | None]]:
    """A key's updates in order: times with gaps up to 3 s and ties, mids walking by ticks, some None."""
    out, t, mid = [], start, 100.0
    for _ in range(n):
        t += rng.choice((0, 100, 100, 250, 1000, 3000))
        mid = round(mid + rng.choice((-0.01, 0.0, 0.0, 0.01)), 2)
        out.append((t, None if rng.random() < 0.05 else mid))
    return out


def _last_mid(updates, x: int) -> tuple[int, float] | None:
    """What the SQL probe returns: the last update with a mid at or before x (ties: the later one)."""
    found = None
    for t, m in updates:
        if t > x:
            break
        if m is not None:
            found = (t, m)
    return found


def _reference_move(updates, t: int, h: int, direction: int) -> float | None:
    """docs/alerts.md's definition by plain loops: mid(x) the mid of the last update at or before x."""
    if t + h > updates[-1][0]:
        return None
    m0, m1 = _last_mid(updates, t), _last_mid(updates, t + h)
    return None if m0 is None or m1 is None else direction * (m1[1] - m0[1]) / m0[1] * 1e4


def _alert(updates, t: int, rule: str = "imbalance_extreme", value: float = -30.0, key: str = "x:BTCUSDT"):
    return AlertMids(key, rule, value, t, _last_mid(updates, t), {h: _last_mid(updates, t + h) for h in HIT_HORIZONS_MS},
                     updates[-1][0])  # fmt: skip


def test_a_move_from_the_deciding_updates_equals_the_move_over_every_update():
    rng = random.Random(16)
    updates = _updates(rng, 3000)
    whole = MidPath([t for t, _ in updates], [m for _, m in updates])  # evaluate's path over every update
    checked = 0
    for t, _ in rng.sample(updates, 400) + updates[-40:]:
        for rule, value, direction in (("imbalance_extreme", -30.0, -1), ("velocity_spike", 4.0, 1),
                                       ("spread_widening", 7.0, 1)):  # fmt: skip
            a = _alert(updates, t, rule, value)
            for h in HIT_HORIZONS_MS:
                want = _reference_move(updates, t, h, direction)
                got = alert_move(a, h)
                assert got == want, (t, h, rule)
                full = whole.move_bps(t, h)
                assert got == (None if full is None else direction * full)
                checked += got is not None
    assert checked > 1000  # most alerts have both horizons inside the data


def test_an_alert_without_a_mid_before_it_or_without_data_after_has_no_move():
    updates = [(1000, None), (2000, 100.0), (9000, 100.5)]
    assert alert_move(_alert(updates, 1000), 5_000) is None  # no mid at or before the alert
    assert alert_move(_alert(updates, 2000), 5_000) == pytest.approx(0.0)  # mid held from 2000 to 7000
    assert alert_move(_alert(updates, 2000), 30_000) is None  # 32000 is beyond the data
    assert alert_move(_alert(updates, 4000, value=+50.0), 5_000) == pytest.approx(0.5 / 100 * 1e4)
    no_data = AlertMids(
        "x:B", "imbalance_flip", 1.0, 2000, (2000, 100.0), dict.fromkeys(HIT_HORIZONS_MS), None
    )
    assert alert_move(no_data, 5_000) is None


def test_rule_moves_count_hits_among_nonzero_moves_per_rule():
    rng = random.Random(7)
    updates = _updates(rng, 2000)
    times = [t for t, _ in rng.sample(updates[:1500], 60)]
    alerts = [
        _alert(updates, t, "imbalance_flip", rng.choice((-1200.0, 1500.0)), key=f"x:{t % 3}") for t in times
    ]
    found = rule_moves(alerts)
    assert found.alerts == {"imbalance_flip": 60} and found.keys["imbalance_flip"] == {
        f"x:{t % 3}" for t in times
    }
    for h in HIT_HORIZONS_MS:
        moves = [m for a in alerts if (m := _reference_move(updates, a.event_time, h, 1 if a.metric_value > 0 else -1))
                 is not None]  # fmt: skip
        got = found.moves["imbalance_flip"][h]
        assert (got.n, got.nonzero, got.hits) == (
            len(moves),
            sum(m != 0 for m in moves),
            sum(m > 0 for m in moves),
        )
        assert got.mean_bps == pytest.approx(sum(moves) / len(moves))


def test_the_baseline_takes_every_second_close_as_an_event_going_up():
    rng = random.Random(3)
    closes = [(1_000_999 + 1000 * i, 100 + rng.choice((-0.01, 0, 0.01)) * (i % 7)) for i in range(600)]
    del closes[100:103]  # seconds without a bar hold the mid of the one before
    got = baseline_moves(closes)
    for h in HIT_HORIZONS_MS:
        moves = [m for t, _ in closes if (m := _reference_move(closes, t, h, 1)) is not None]
        assert len(moves) == sum(t + h <= closes[-1][0] for t, _ in closes)
        m = got[h]
        assert (m.n, m.nonzero, m.hits) == (len(moves), sum(x != 0 for x in moves), sum(x > 0 for x in moves))
        assert m.mean_abs_bps == pytest.approx(sum(map(abs, moves)) / len(moves))


def test_the_table_says_n_too_small_and_compares_with_the_baseline_of_the_rules_symbols():
    updates = [(1000 * i, 100.0 + 0.01 * (i % 7)) for i in range(200)]
    ups = [_alert(updates, 1000 * i, "imbalance_extreme", 40.0, "x:A") for i in range(0, 120, 3)]  # 40 alerts
    few = [_alert(updates, 1000 * i, "velocity_spike", -4.0, "x:B") for i in (1, 2, 3)]
    spread = [_alert(updates, 1000 * i, "spread_widening", 9.0, "x:B") for i in range(0, 60, 4)]
    found = rule_moves(ups + few + spread)
    baselines = {"x:A": baseline_moves(updates), "x:B": baseline_moves([(t, 100.0) for t, _ in updates])}
    table = hit_rate_table(
        found, baselines, ["imbalance_extreme", "velocity_spike", "spread_widening", "imbalance_flip"]
    )
    rows = {r["Rule"]: r for r in table.to_dict("records")}
    extreme = found.moves["imbalance_extreme"][5_000]
    assert extreme.nonzero >= MIN_NONZERO_MOVES
    assert rows["imbalance_extreme"]["After 5 s"] == (
        f"{100 * extreme.hit_rate:.0f}% hit, {extreme.mean_bps:+.2f} bps (n={extreme.nonzero}/{extreme.n})"
    )
    base = baselines["x:A"][5_000]
    assert rows["imbalance_extreme"]["Unconditional 5 s"] == (
        f"up {100 * base.hit_rate:.0f}%, {base.mean_bps:+.2f} bps, |move| {base.mean_abs_bps:.2f}"
    )
    assert rows["velocity_spike"]["After 30 s"] == "n too small (n=3/3)"
    assert rows["velocity_spike"]["Unconditional 30 s"].startswith("up —, +0.00 bps")  # x:B never moved
    spread_moves = found.moves["spread_widening"][5_000]
    assert (
        rows["spread_widening"]["After 5 s"]
        == f"|move| {spread_moves.mean_abs_bps:.2f} bps (n={spread_moves.n})"
    )
    assert rows["spread_widening"]["Unconditional 5 s"] == "|move| 0.00 bps"
    assert rows["imbalance_flip"] == {"Rule": "imbalance_flip", "Alerts": 0, "After 5 s": "no alerts",
                                      "Unconditional 5 s": "—", "After 30 s": "no alerts",
                                      "Unconditional 30 s": "—"}  # fmt: skip
    assert rows["imbalance_extreme"]["Alerts"] == 40 and rows["velocity_spike"]["Alerts"] == 3
