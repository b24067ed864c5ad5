"""`obm alerts evaluate` on a small crafted capture (Binance spot format, 90 s of books whose mid,
imbalance and spread are known by construction) against a direct computation: the books as
written, the metrics of the independent numpy reference (tests/flink/reference_metrics.py), the
alerts of the independent reference of the rules (tests/flink/reference_alerts.py), and the
forward moves, times in condition and baselines counted by plain loops over those."""

from __future__ import annotations

import gzip
import json
import math
import random
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from flink.reference_alerts import reference_alerts
from flink.reference_metrics import reference_metrics

from config import AlertSettings, MetricsJobSettings
from obm.cli import main

pytestmark = pytest.mark.unit
SYMBOL, T0, N = "TESTUSDT", 1_723_161_240_000, 900
HORIZONS = (1_000, 5_000, 30_000, 60_000)


def _price(ticks: int) -> str:
    return f"{ticks // 100}.{ticks % 100:02d}"


def crafted_books() -> list[dict]:
    """Each update's full book (10 levels a side, prices as text): the mid wanders by a tick now
    and then, the imbalance swings with a regime every 4 s, and the spread opens to 3 ticks for
    1.5 s twice."""
    rng = random.Random(16)
    mid, books = 10_000, []
    for k in range(N):
        if rng.random() < 0.15:
            mid += rng.choice((-1, 1))
        regime = 1 if (k // 40) % 2 == 0 else -1
        wide = 300 <= k < 315 or 700 <= k < 715
        bid_top = mid - 1
        ask_top = bid_top + (3 if wide else rng.choice((1, 1, 2)))
        heavy, light = (5.0, 1.0) if regime > 0 else (1.0, 5.0)
        books.append({
            "t": T0 + 100 * k, "u": 1_001 + k,
            "bids": [(_price(bid_top - i), f"{rng.uniform(0.5, 2.0) * heavy:.3f}") for i in range(10)],
            "asks": [(_price(ask_top + i), f"{rng.uniform(0.5, 2.0) * light:.3f}") for i in range(10)],
        })  # fmt: skip
    return books


def write_capture(path: Path, books: list[dict]) -> None:
    """A snapshot at update id 1000 (the first book), then one diff per book that removes the
    previous book's levels and sets the new ones."""
    lines = []
    first = books[0]
    snap = {
        "lastUpdateId": 1_000,
        "bids": [list(x) for x in first["bids"]],
        "asks": [list(x) for x in first["asks"]],
    }
    lines.append((first["t"] * 1_000_000 - 1, snap))
    prev = first
    for b in books:
        sides = {}
        for side in ("bids", "asks"):
            new = dict(b[side])
            gone = [[p, "0.00000000"] for p, _ in prev[side] if p not in new]
            sides[side[0]] = gone + [list(x) for x in b[side]]
        data = {"e": "depthUpdate", "E": b["t"], "s": SYMBOL, "U": b["u"], "u": b["u"], **sides}
        lines.append((b["t"] * 1_000_000, {"stream": f"{SYMBOL.lower()}@depth@100ms", "data": data}))
        prev = b
    with gzip.open(path, "wb") as fh:
        for ns, msg in lines:
            fh.write(f"{ns} ".encode() + orjson.dumps(msg) + b"\n")


def raw_records(books: list[dict]) -> list[dict]:
    """The orderbook.raw records these books are, written directly (not through the producer)."""
    return [
        {
            "exchange": "binance",
            "market": "spot",
            "symbol": SYMBOL,
            "event_time": b["t"],
            "sequence_id": b["u"],
            "bid_prices": [float(p) for p, _ in b["bids"]],
            "bid_sizes": [float(q) for _, q in b["bids"]],
            "ask_prices": [float(p) for p, _ in b["asks"]],
            "ask_sizes": [float(q) for _, q in b["asks"]],
        }  # fmt: skip
        for b in books
    ]


def _sign(x: float | None) -> int:
    return 0 if x is None else (x > 0) - (x < 0)


def _moves(events: list[tuple[int, int]], times: list[int], mids: list[float]) -> dict[int, dict]:
    """Per horizon: n, nonzero, hit rate, mean signed and mean absolute move of (time, direction)."""
    out = {}
    for h in HORIZONS:
        moves = []
        for t, d in events:
            if t + h > times[-1]:
                continue
            m0 = [m for s, m in zip(times, mids, strict=True) if s <= t][-1]
            m1 = [m for s, m in zip(times, mids, strict=True) if s <= t + h][-1]
            moves.append(d * (m1 - m0) / m0 * 1e4)
        nonzero = [m for m in moves if m != 0]
        out[h] = {
            "n": len(moves), "nonzero": len(nonzero),
            "hit_rate": sum(m > 0 for m in nonzero) / len(nonzero) if nonzero else None,
            "mean_bps": sum(moves) / len(moves) if moves else None,
            "mean_abs_bps": sum(abs(m) for m in moves) / len(moves) if moves else None,
        }  # fmt: skip
    return out


def _assert_moves(got: dict, want: dict) -> None:
    for h in HORIZONS:
        g, w = got[str(h)], want[h]
        assert (g["n"], g["nonzero"]) == (w["n"], w["nonzero"]), h
        for k in ("hit_rate", "mean_bps", "mean_abs_bps"):
            assert (g[k] is None) == (w[k] is None) and (
                w[k] is None or math.isclose(g[k], w[k], abs_tol=1e-9)
            ), (h, k)


def test_evaluate_numbers_equal_a_direct_computation(tmp_path: Path) -> None:
    books = crafted_books()
    write_capture(tmp_path / "crafted.txt.gz", books)
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(
        main,
        [
            "alerts",
            "evaluate",
            "--capture",
            str(tmp_path / "crafted.txt.gz"),
            "--profile",
            "seed",
            "--json",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    (report,) = json.loads(out.read_text())
    assert report["key"] == f"binance:{SYMBOL}" and report["updates"] == N

    raws = raw_records(books)
    metrics = reference_metrics(raws, MetricsJobSettings())
    processed = [
        raw
        | {
            k: v.item() if hasattr(v, "item") else v
            for k, v in metrics[("binance", SYMBOL, raw["sequence_id"])].items()
        }
        for raw in raws
    ]  # numpy scalars as Python numbers
    alerts = reference_alerts(processed, AlertSettings())
    times = [p["event_time"] for p in processed]
    mids = [p["mid"] for p in processed]
    span = times[-1] - times[0]
    assert math.isclose(report["hours"], span / 3.6e6)
    assert len(alerts) > 10 and {a[0] for a in alerts} == {
        "imbalance_extreme", "imbalance_flip", "spread_widening", "velocity_spike",
    }  # fmt: skip
    for rule, got in report["rules"].items():
        mine = [a for a in alerts if a[0] == rule]
        assert got["alerts"] == len(mine), rule
        assert math.isclose(got["per_hour"], len(mine) / (span / 3.6e6))
        events = [(a[5], 1 if rule == "spread_widening" else _sign(a[6])) for a in mine]
        _assert_moves(got["moves"], _moves(events, times, mids))

    s = AlertSettings()
    held = [b - a for a, b in zip(times, times[1:], strict=False)] + [0]
    conditions = {
        "imbalance_extreme_medium": lambda p: abs(p["imbalance_5"]) >= s.imbalance_medium,
        "imbalance_extreme_high": lambda p: abs(p["imbalance_5"]) >= s.imbalance_high,
        "imbalance_flip": lambda p: abs(p["imbalance_5"]) >= s.flip_threshold,
        "spread_widening": lambda p: p["spread_bps"] >= s.spread_widening_k * p["spread_bps_mean"],
        "velocity_spike": lambda p: (
            p["imbalance_velocity"] is not None and abs(p["imbalance_velocity"]) >= s.velocity_threshold
        ),
    }
    direction = {
        "spread_widening": lambda p: 1,
        "velocity_spike": lambda p: _sign(p["imbalance_velocity"]),
    }
    for name, holds in conditions.items():
        want = sum(w for w, p in zip(held, processed, strict=True) if holds(p)) / span
        assert math.isclose(report["time_in_condition"][name], want), name
        assert 0 < want < 1, name
        sign = direction.get(name, lambda p: _sign(p["imbalance_5"]))
        events = [(p["event_time"], sign(p)) for p in processed if holds(p)]
        _assert_moves(report["condition_moves"][name], _moves(events, times, mids))

    baselines = {
        "all": [(t, 1) for t in times],
        "imbalance sign": [(p["event_time"], _sign(p["imbalance_5"])) for p in processed],
        "velocity sign": [(p["event_time"], _sign(p["imbalance_velocity"])) for p in processed],
    }
    for name, events in baselines.items():
        _assert_moves(report["baselines"][name], _moves([e for e in events if e[1]], times, mids))
