"""The metrics job from Kafka to Kafka on a real session cluster: submit, stop with a savepoint,
resubmit from it. The output of both runs together must equal the reference over the whole
input, which only holds if LAG and the rolling windows resumed their state, and each update
must come out exactly once (offsets resumed from the savepoint)."""

from __future__ import annotations

import pytest

from config import MetricsJobSettings
from flink_jobs.lifecycle import find_active_job, list_jobs, stop_job, submit_job
from schemas import Topic, validator_for
from tests.flink.book_sequences import random_walk_books
from tests.flink.comparing import mismatches
from tests.flink.kafka_io import consume_until, isolated_kafka, produce
from tests.flink.reference_metrics import reference_metrics


def _with_flush(records: list[dict]) -> list[dict]:
    """One more update per symbol, 10 s later, so the watermark passes every real record."""
    last = max(r["event_time"] for r in records)
    flush = []
    for sym in sorted({r["symbol"] for r in records}):
        template = next(r for r in reversed(records) if r["symbol"] == sym)
        flush.append(
            template | {"event_time": last + 10_000, "sequence_id": template["sequence_id"] + 100_000}
        )
    return records + flush


@pytest.mark.integration
def test_metrics_job_submit_stop_with_savepoint_and_resume(kafka_settings, flink_settings, tmp_path):
    kafka = isolated_kafka(kafka_settings, (Topic.RAW, Topic.PROCESSED))
    settings = MetricsJobSettings()
    everything = random_walk_books(400, seed=3)
    first = _with_flush(everything[:200])
    split = max(r["event_time"] for r in first)
    second = _with_flush(
        [
            r | {"event_time": r["event_time"] - everything[200]["event_time"] + split + 500}
            for r in everything[200:]
        ]
    )
    produce(kafka, Topic.RAW, first)

    job_id = submit_job("metrics", flink=flink_settings, kafka=kafka)
    assert job_id in {j.job_id for j in list_jobs(flink_settings)}
    assert find_active_job(flink_settings, "metrics").job_id == job_id
    wanted_first = {r["sequence_id"] for r in first[:-2]}
    consume_until(kafka, Topic.PROCESSED, lambda got: wanted_first <= {r["sequence_id"] for r in got})

    savepoint = stop_job(flink_settings, job_id, str(tmp_path / "savepoints"))
    assert savepoint.startswith("file:")
    assert find_active_job(flink_settings, "metrics") is None

    produce(kafka, Topic.RAW, second)
    resumed = submit_job("metrics", flink=flink_settings, kafka=kafka, savepoint=savepoint)
    wanted = {r["sequence_id"] for r in first + second[:-2]}
    try:
        out = consume_until(kafka, Topic.PROCESSED, lambda got: wanted <= {r["sequence_id"] for r in got})
    finally:
        stop_job(flink_settings, resumed, str(tmp_path / "savepoints"))

    seqs = [r["sequence_id"] for r in out]
    assert len(seqs) == len(set(seqs)), "an update was processed twice across the restart"
    expected = reference_metrics(first + second, settings)
    validate = validator_for(Topic.PROCESSED)
    problems = []
    for rec in out:
        assert rec.pop("_key") == f"{rec['exchange']}:{rec['symbol']}"
        validate(rec)
        problems += [
            f"seq {rec['sequence_id']} {p}"
            for p in mismatches(rec, expected[(rec["exchange"], rec["symbol"], rec["sequence_id"])])
        ]
    assert not problems, "\n".join(problems[:30])
