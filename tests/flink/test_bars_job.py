"""The windows job's logic on bounded processed records (themselves the metrics job's output on
a random walk), compared with the numpy reference of every bar."""

from __future__ import annotations

import pytest

from config import MetricsJobSettings
from flink_jobs.bars import bars_table
from flink_jobs.metrics import metrics_table
from schemas import Topic, validator_for
from tests.flink.book_sequences import random_walk_books
from tests.flink.comparing import mismatches
from tests.flink.reference_bars import reference_bars


@pytest.mark.integration
def test_bars_match_reference(run_bounded):
    settings = MetricsJobSettings()
    raw = random_walk_books(500, seed=23)
    processed = run_bounded(Topic.RAW, raw, lambda t: metrics_table(t, settings))
    for rec in processed:
        rec.pop("record_key")
    processed.sort(key=lambda r: (r["event_time"], r["sequence_id"]))  # the topic's per-key order
    bars = run_bounded(Topic.PROCESSED, processed, bars_table)
    expected = reference_bars(processed)
    validate = validator_for(Topic.BARS)
    assert {(b["exchange"], b["symbol"], b["interval"], b["window_start"]) for b in bars} == set(expected)
    assert {b["interval"] for b in bars} == {"1s", "1m"}
    problems = []
    for bar in bars:
        assert bar.pop("record_key") == f"{bar['exchange']}:{bar['symbol']}"
        validate(bar)
        want = expected[(bar["exchange"], bar["symbol"], bar["interval"], bar["window_start"])]
        problems += [f"{bar['interval']} {bar['window_start']} {p}" for p in mismatches(bar, want)]
    assert not problems, "\n".join(problems[:30])
