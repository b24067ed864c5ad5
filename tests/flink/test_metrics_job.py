"""The metrics job's logic on bounded inputs in a local Flink cluster, compared field by field
with the numpy reference in reference_metrics.py."""

from __future__ import annotations

import random

import pytest

from config import MetricsJobSettings
from flink_jobs.metrics import check_settings, metrics_table
from flink_jobs.sql_building import sql_double
from schemas import Topic, validator_for
from tests.flink.book_sequences import random_walk_books, raw_record
from tests.flink.comparing import mismatches
from tests.flink.conftest import run_bounded_in
from tests.flink.reference_metrics import reference_metrics


def _check_against_reference(rows, records, settings):
    validate = validator_for(Topic.PROCESSED)
    expected = reference_metrics(records, settings)
    assert len(rows) == len(records)
    problems = []
    for row in rows:
        assert row.pop("record_key") == f"{row['exchange']}:{row['symbol']}"
        validate(row)
        want = expected[(row["exchange"], row["symbol"], row["sequence_id"])]
        problems += [f"seq {row['sequence_id']} {p}" for p in mismatches(row, want)]
    assert not problems, "\n".join(problems[:30])


@pytest.mark.integration
def test_metrics_match_reference_on_random_walk(run_bounded):
    settings = MetricsJobSettings()
    records = random_walk_books(600, seed=11)
    rows = run_bounded(Topic.RAW, records, lambda raw: metrics_table(raw, settings))
    _check_against_reference(rows, records, settings)
    # the sequence exercises the awkward cases, so the nulls above were really compared
    assert any(r["mid"] is None for r in rows)
    assert any(r["depth_complete_10bps"] for r in rows) and not all(r["depth_complete_100bps"] for r in rows)
    assert sum(r["imbalance_velocity"] is not None for r in rows) > 100


def one_tick_books(n: int, *, seed: int) -> list[dict]:
    """The worst case of the sliding moments, 100 ms apart: (1) a USD-M BTCUSDT-like book, tick 0.1
    at ~60,000, spread one tick but for a few updates after the 700th, so spread_bps varies by
    ~1e-5 of its mean where the window holds no wider spread (z is defined); (2) a book priced in
    ticks of 2^-20 around 10,000 (exact binary prices) whose spread is always one tick, so
    spread_bps varies by ~1e-9 of its mean (values like 1.000000001 around a large mean; z is
    NULL by the floor), and whose bid sizes are ~10^6 times the ask sizes (imbalance_5 ~1 - 2e-7,
    varying in its 8th digit)."""
    rng = random.Random(seed)
    records = []
    clock = 1_723_161_240_000
    btc_ticks, fine_ticks = 600_000, 10_000 * 2**20
    for k in range(n):
        clock += 100
        btc_ticks += rng.choice([-1, 0, 0, 1])
        spread = 2 if 700 <= k < 705 else 1
        bids = [((btc_ticks - i) / 10, rng.uniform(0.001, 3)) for i in range(20)]
        asks = [((btc_ticks + spread + i) / 10, rng.uniform(0.001, 3)) for i in range(20)]
        records.append(raw_record("BTCUSDT", clock, 2 * k, bids, asks) | {"market": "usdm"})
        fine_ticks += rng.choice([-1, 0, 1])
        bids = [((fine_ticks - i) / 2**20, 1000 + rng.randint(0, 1000) / 8) for i in range(20)]
        asks = [((fine_ticks + 1 + i) / 2**20, 1e-4 * (1 + rng.randint(0, 1000) / 1024)) for i in range(20)]
        records.append(raw_record("FINEUSDT", clock, 2 * k + 1, bids, asks))
    return records


def _naive_moments_error(records: list[dict], settings: MetricsJobSettings, *symbols: str) -> float:
    """Largest relative error of spread_bps_std from the old sliding Σx, Σx² over the records of
    `symbol` (as the job computed it until 2026-12), against the reference."""
    expected = reference_metrics(records, settings)
    worst = 0.0
    for symbol in symbols:
        window: list[tuple[int, float]] = []
        total = total_sq = 0.0
        for rec in (r for r in records if r["symbol"] == symbol):
            want = expected[("binance", symbol, rec["sequence_id"])]
            x = (
                (rec["ask_prices"][0] - rec["bid_prices"][0])
                / ((rec["bid_prices"][0] + rec["ask_prices"][0]) / 2)
                * 1e4
            )
            window.append((rec["event_time"], x))
            total, total_sq = total + x, total_sq + x * x
            while window[0][0] < rec["event_time"] - settings.baseline_window_ms:
                _, old = window.pop(0)
                total, total_sq = total - old, total_sq - old * old
            n = len(window)
            std = max((total_sq - total * total / n) / n, 0) ** 0.5
            if want["spread_bps_std"] > 0:
                worst = max(worst, abs(std - want["spread_bps_std"]) / want["spread_bps_std"])
    return worst


@pytest.mark.integration
def test_window_moments_are_exact_where_the_spread_is_one_tick(run_bounded):
    """mean, std and z agree with a two-pass computation to 1e-9 relative (comparing.py) on the
    sequences that made Σx² − (Σx)²/n lose 4-10 digits."""
    settings = MetricsJobSettings()
    records = one_tick_books(1_500, seed=13)
    # the sequences are hard: the old Σx, Σx² were off by more than 1e-6 (BTCUSDT) and 100% (FINEUSDT)
    assert _naive_moments_error(records, settings, "BTCUSDT") > 1e-6
    assert _naive_moments_error(records, settings, "FINEUSDT") > 1
    rows = run_bounded(Topic.RAW, records, lambda raw: metrics_table(raw, settings))
    _check_against_reference(rows, records, settings)
    btc = [r for r in rows if r["symbol"] == "BTCUSDT"]
    fine = [r for r in rows if r["symbol"] == "FINEUSDT"]
    assert sum(r["spread_bps_z"] is not None for r in btc) > len(btc) * 0.9
    assert all(r["spread_bps_z"] is None and r["spread_bps_std"] > 0 for r in fine[100:])
    assert all(0 < r["spread_bps_std"] < 1e-8 * r["spread_bps_mean"] for r in fine[100:])
    assert all(r["imbalance_z"] is None and 0 < r["imbalance_std"] < 1e-7 for r in fine[100:])


@pytest.mark.integration
def test_metrics_follow_their_settings(run_bounded):
    """Other N, lambda, windows: the job changes with configuration, not code."""
    settings = MetricsJobSettings(
        weighted_imbalance_lambda=0.5,
        depth_pcts=[0.1, 1.0],
        vtob_levels=5,
        velocity_window_ms=400,
        baseline_window_ms=5_000,
        baseline_imbalance_level=10,
        imbalance_levels=[1, 5, 10, 20],
    )
    records = random_walk_books(300, seed=5)
    rows = run_bounded(Topic.RAW, records, lambda raw: metrics_table(raw, settings))
    for row in rows:
        assert row["depth_bid_50bps"] is None and row["depth_complete_50bps"] is None
    _check_against_reference(rows, records, settings)


@pytest.mark.unit
def test_settings_outside_the_schema_are_refused():
    with pytest.raises(ValueError, match="not in the orderbook.processed schema"):
        check_settings(MetricsJobSettings(imbalance_levels=[1, 3, 5]))
    with pytest.raises(ValueError, match="book_levels"):
        check_settings(MetricsJobSettings(book_levels=10))


@pytest.mark.unit
@pytest.mark.parametrize("value", [0.1, 1 - 0.1 / 100, 1e-12, 123456.789, 0.0])
def test_double_literals_are_exact(value):
    text = sql_double(value)
    assert float(text.removeprefix("CAST(").removesuffix(" AS DOUBLE)")) == value


@pytest.mark.integration
def test_updates_behind_the_watermark_are_not_dropped(local_table_env, tmp_path):
    """A symbol whose updates reach the job well behind the others (an idle partition that
    resumes, a producer catching up after a resync) is behind the watermark. The metrics job
    buffers nothing by event time, so it must still emit every update, each with the same metrics
    as in time. (Flink 2.2's process table functions silently drop rows at or behind the
    watermark when called with `on_time`, which the flow function therefore is not.) The source
    emits a watermark after every record, so the late rows are late when they arrive."""
    settings = MetricsJobSettings()
    btc = random_walk_books(40, seed=3, symbols=("BTCUSDT",))
    eth = [
        r | {"event_time": r["event_time"] + 120_000}
        for r in random_walk_books(20, seed=4, symbols=("ETHUSDT",))
    ]
    records = btc[:20] + eth + btc[20:]  # BTC's second half arrives 2 min behind ETH
    rows = run_bounded_in(
        local_table_env,
        tmp_path / "in",
        Topic.RAW,
        records,
        lambda raw: metrics_table(raw, settings),
        watermark_each_record=True,
    )
    _check_against_reference(rows, records, settings)
