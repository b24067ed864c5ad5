"""The metrics job's logic on bounded inputs in a local Flink cluster, compared field by field
with the numpy reference in reference_metrics.py."""

from __future__ import annotations

import pytest

from config import MetricsJobSettings
from flink_jobs.metrics import check_settings, metrics_table
from flink_jobs.sql_building import sql_double
from schemas import Topic, validator_for
from tests.flink.book_sequences import random_walk_books
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
