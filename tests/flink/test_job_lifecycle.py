"""The job lifecycle on a real session cluster. The metrics job from Kafka to Kafka: submit, stop
with a savepoint, resubmit from it; the output of both runs together must equal the reference over
the whole input, which only holds if LAG and the rolling windows resumed their state, and each
update must come out exactly once (offsets resumed from the savepoint). A job failing at run time
as `obm status` shows it and as `obm down` ends it; a job whose watermark cannot advance."""

from __future__ import annotations

import re
import time

import pytest
from click.testing import CliRunner

from config import AlertSettings, MetricsJobSettings, StackSettings
from flink_jobs.flink_rest import FlinkRest
from flink_jobs.lifecycle import (
    find_active_job,
    list_jobs,
    stop_job,
    stop_or_cancel,
    submit_job,
    submit_program,
)
from flink_jobs.registry import job_display_name
from obm.cli import main as obm_main
from obm.stack.jobs_component import FlinkJobs
from obm.stack.supervisor import StackConfig
from schemas import Topic, load_schema, validator_for
from tests.flink.book_sequences import random_walk_books
from tests.flink.comparing import mismatches
from tests.flink.kafka_io import consume_until, isolated_kafka, produce
from tests.flink.poison_cases import conforming
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
    # books with an empty side break orderbook.raw's contract: the job sends them to the DLQ
    everything = conforming(Topic.RAW, random_walk_books(400, seed=3))
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


FAILING_PROGRAM = '''
"""A job that fails on its first record (1 / 0 at run time), restarting every 2 s."""
import argparse
from pyflink.table import EnvironmentSettings, TableEnvironment
parser = argparse.ArgumentParser()
parser.add_argument("--name", required=True)
t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
for key, value in {
    "pipeline.name": parser.parse_args().name,
    "execution.checkpointing.interval": "2 s",
    "restart-strategy.type": "fixed-delay",
    "restart-strategy.fixed-delay.attempts": "1000000",
    "restart-strategy.fixed-delay.delay": "2 s",
}.items():
    t_env.get_config().set(key, value)
t_env.execute_sql("CREATE TABLE src (n INT) WITH ('connector' = 'datagen', 'rows-per-second' = '5')")
t_env.execute_sql("CREATE TABLE sink_t (x INT) WITH ('connector' = 'blackhole')")
print("obm job id:", t_env.execute_sql("INSERT INTO sink_t SELECT 10 / (n - n) FROM src").get_job_client().get_job_id())
'''


def _wait_for(check, what: str, timeout_s: float = 180.0):
    """Poll `check()` until it returns something truthy; fail naming `what` and the last value."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen in {timeout_s:.0f} s (last: {found!r})")
        time.sleep(2)


@pytest.mark.integration
def test_a_failing_job_shows_in_obm_status_and_down_cancels_it(flink_settings, kafka_settings, tmp_path):
    """A job in a restart loop: `obm status` names it with its restarts and its exception in one
    line; it cannot take a savepoint, so stopping it cancels it and the line says why."""
    program = tmp_path / "failing_job.py"
    program.write_text(FAILING_PROGRAM)
    # Named as the stack's metrics job, so `obm status` of a stack running only that job sees it.
    job_id = submit_program(flink_settings, program, ["--name", job_display_name("metrics")])
    state = tmp_path / "state"
    cfg = StackConfig(
        stack=StackSettings(state_dir=state), kafka=kafka_settings,
        flink=flink_settings.model_copy(update={"jobs": ["metrics"]}),
    )  # fmt: skip
    cfg.save()
    try:

        def status_lines():
            result = CliRunner().invoke(obm_main, ["status"], env={"OBM_STATE_DIR": str(state)})
            lines = [ln.strip() for ln in result.output.splitlines() if ln.strip().startswith("obm-metrics")]
            restarted = lines and "ArithmeticException: / by zero" in lines[0]
            return (result.exit_code, lines) if restarted else None

        exit_code, lines = _wait_for(status_lines, "obm status naming the failing job")
        assert exit_code == 1 and len(lines) == 1
        # Between two attempts the job is RESTARTING (or FAILING); while an attempt runs, it is
        # RUNNING and its restart count (Flink's numRestarts, once reported) says it failed before.
        assert re.fullmatch(
            r"obm-metrics (RESTARTING|FAILING|RUNNING)(, \d+ restarts? since start)?"
            r"; last exception: ArithmeticException: / by zero",
            lines[0],
        ), lines[0]
    finally:
        stopped = stop_or_cancel(flink_settings, job_id, str(tmp_path / "savepoints"))
    assert stopped.savepoint is None and stopped.ever_ran
    line = stopped.describe("obm-metrics")
    assert line.startswith("obm-metrics: cancelled, it could not take a savepoint (")
    assert "\n" not in line and len(line) < 400
    assert FlinkRest.of(flink_settings).get(f"/jobs/{job_id}")["state"] == "CANCELED"


@pytest.mark.integration
def test_a_bars_job_whose_watermark_cannot_advance_is_reported_stalled(
    kafka_settings, flink_settings, tmp_path
):
    """Records keep coming but all carry the same event time: the watermark cannot pass it, no
    window closes, and `obm status` says so once a check at least stall_after_s old exists."""
    kafka = isolated_kafka(kafka_settings, (Topic.PROCESSED, Topic.BARS))
    flink = flink_settings.model_copy(update={"jobs": ["bars"], "stall_after_s": 5.0})
    jobs = FlinkJobs(flink, kafka, StackSettings(state_dir=tmp_path), MetricsJobSettings(), AlertSettings())
    template = load_schema(Topic.PROCESSED)["examples"][0]
    frozen_time = int(time.time() * 1000)
    job_id = submit_job("bars", flink=flink, kafka=kafka)
    try:
        seq = iter(range(1, 10**9))

        def stalled_line():
            produce(
                kafka,
                Topic.PROCESSED,
                [template | {"event_time": frozen_time, "sequence_id": next(seq)} for _ in range(20)],
            )
            ok, lines = jobs.status_report()
            return lines[0] if "STALLED" in lines[0] else None

        line = _wait_for(stalled_line, "obm-bars reported STALLED")
        assert re.match(
            r"obm-bars STALLED \(RUNNING\): watermark stuck at \S+ for \d+ s while \d+ records came in", line
        ), line
        assert not jobs.status_report()[0]
    finally:
        stop_job(flink_settings, job_id, str(tmp_path / "savepoints"))
