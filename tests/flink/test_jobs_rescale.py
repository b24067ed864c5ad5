"""Rescaling a running job on a real session cluster: `obm jobs redeploy metrics --parallelism 2`
stops the metrics job (parallelism 1) with a savepoint and resubmits it at parallelism 2. Its
keyed state (LAG, rolling windows) is cut into key groups and shared out over the two instances;
the output of both runs together must equal the reference over the whole input (which only holds
if that state survived the rescale), each update must come out exactly once (no loss, no double),
and each exchange:symbol's records must come out in order."""

from __future__ import annotations

from collections import defaultdict

import pytest
from click.testing import CliRunner

from config import MetricsJobSettings
from flink_jobs.cli import jobs as jobs_cli
from flink_jobs.flink_rest import FlinkRest
from flink_jobs.lifecycle import find_active_job, stop_job, submit_job
from schemas import Topic, validator_for
from tests.flink.book_sequences import random_walk_books
from tests.flink.comparing import mismatches
from tests.flink.kafka_io import consume_until, isolated_kafka, produce
from tests.flink.poison_cases import conforming
from tests.flink.reference_metrics import reference_metrics
from tests.flink.test_job_lifecycle import _with_flush

# Six symbols over three partitions: both instances at parallelism 2 get keys.
SYMBOLS = ("ETHUSDT", "BTCUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT")


def _vertex_parallelism(flink, job_id: str) -> set[int]:
    return {int(v["parallelism"]) for v in FlinkRest.of(flink).get(f"/jobs/{job_id}")["vertices"]}


@pytest.mark.integration
def test_metrics_job_rescaled_from_1_to_2_keeps_state_order_and_every_record(
    kafka_settings, flink_settings, tmp_path, monkeypatch
):
    kafka = isolated_kafka(kafka_settings, (Topic.RAW, Topic.PROCESSED, Topic.DLQ))
    everything = conforming(Topic.RAW, random_walk_books(360, seed=11, symbols=SYMBOLS))
    half = len(everything) // 2
    first = _with_flush(everything[:half])
    split = max(r["event_time"] for r in first)
    second = _with_flush(
        [
            r | {"event_time": r["event_time"] - everything[half]["event_time"] + split + 500}
            for r in everything[half:]
        ]
    )
    produce(kafka, Topic.RAW, first)
    savepoints = str(tmp_path / "savepoints")

    job_id = submit_job("metrics", flink=flink_settings, kafka=kafka, parallelism=1)
    try:
        assert _vertex_parallelism(flink_settings, job_id) == {1}
        wanted_first = {r["sequence_id"] for r in first[: -len(SYMBOLS)]}
        consume_until(kafka, Topic.PROCESSED, lambda got: wanted_first <= {r["sequence_id"] for r in got})

        # The CLI reads its settings from the environment, as `obm jobs` does.
        monkeypatch.setenv("OBM_KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
        monkeypatch.setenv("OBM_KAFKA_TOPIC_PREFIX", kafka.topic_prefix)
        result = CliRunner().invoke(
            jobs_cli,
            ["redeploy", "metrics", "--parallelism", "2", "--jobmanager", flink_settings.jobmanager,
             "--savepoint-dir", savepoints],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        rescaled = find_active_job(flink_settings, "metrics")
        assert rescaled is not None and rescaled.job_id != job_id
        assert result.stdout.startswith(rescaled.job_id)
        assert _vertex_parallelism(flink_settings, rescaled.job_id) == {2}

        produce(kafka, Topic.RAW, second)
        wanted = {r["sequence_id"] for r in first + second[: -len(SYMBOLS)]}
        out = consume_until(kafka, Topic.PROCESSED, lambda got: wanted <= {r["sequence_id"] for r in got})
    finally:
        running = find_active_job(flink_settings, "metrics")
        if running is not None:
            stop_job(flink_settings, running.job_id, savepoints)

    seqs = [r["sequence_id"] for r in out]
    assert len(seqs) == len(set(seqs)), "an update was processed twice across the rescale"
    # A key is on one partition, read in its order: its records must come out in the order they
    # went in (sequence ids are unique over the input, but the flush records' are out of line).
    position = {r["sequence_id"]: i for i, r in enumerate(first + second)}
    by_key: dict[str, list[int]] = defaultdict(list)
    for rec in out:
        by_key[rec["_key"]].append(position[rec["sequence_id"]])
    assert len(by_key) == len(SYMBOLS)
    assert all(p == sorted(p) for p in by_key.values()), "a key's records came out of order"
    expected = reference_metrics(first + second, MetricsJobSettings())
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
