"""`obm status` lines of the Flink jobs, judged from REST answers recorded from a real Flink 2.2.1
session cluster (flink_answers/): a job in a restart loop, a job Flink gave up on, a bars job fed
records whose event time cannot advance (its watermark stuck while input flows) and a healthy
metrics job; plus the stall rule and the one-line causes on their own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flink_jobs.flink_rest import FlinkRest, JobLifecycleError, one_line_cause
from flink_jobs.job_health import JobHealth, Progress, ProgressHistory, check_job, stall_reason
from flink_jobs.lifecycle import _failure_cause

pytestmark = pytest.mark.unit

ANSWERS = Path(__file__).parent / "flink_answers"


class RecordedRest(FlinkRest):
    """The JobManager as recorded: each GET answers what the real one answered to that path."""

    def __init__(self, recording: str) -> None:
        super().__init__("recorded:0")
        data = json.loads((ANSWERS / recording).read_text())
        self.now_ms: int = data["now_ms"]
        self.answers: dict[str, Any] = data["answers"]

    def get(self, path: str) -> Any:
        if path not in self.answers:
            raise JobLifecycleError(f"GET {path}: HTTP 404: not recorded")
        return self.answers[path]


def check_all(rest: RecordedRest, history: ProgressHistory, stall_after_s: float) -> dict[str, JobHealth]:
    overview = rest.jobs_overview()
    found, samples = {}, {}
    for name, signal in (
        ("obm-metrics", "output"),
        ("obm-bars", "watermark"),
        ("obm-loop", "output"),
        ("obm-failing", "output"),
        ("obm-alerts", "watermark"),
    ):
        health, progress = check_job(rest, name, overview, signal, history, stall_after_s, rest.now_ms)
        found[name] = health
        if progress is not None:
            samples[health.job_id] = progress
    history.record(samples)
    return found


def test_status_lines_from_recorded_answers(tmp_path: Path) -> None:
    history = ProgressHistory(tmp_path / "progress.json")
    before = check_all(RecordedRest("stall-before.json"), history, stall_after_s=10)
    # The first look has no earlier sample: it reports what it sees and judges nothing.
    assert before["obm-bars"].stalled is None and before["obm-bars"].healthy

    after = check_all(RecordedRest("stall-after.json"), history, stall_after_s=10)
    bars = after["obm-bars"]
    assert not bars.healthy
    assert bars.line().startswith(
        "obm-bars STALLED (RUNNING): watermark stuck at 2026-12-05T17:10:29Z for 26 s"
    )
    assert "while 1020 records came in" in bars.line()

    metrics = after["obm-metrics"]
    assert metrics.healthy and metrics.stalled is None  # its output followed its input
    assert metrics.line() == "obm-metrics RUNNING, 2370 in, 2370 out, lag 0, watermark 2026-12-05T17:10:29Z"

    loop = after["obm-loop"]
    assert not loop.healthy and loop.state == "RESTARTING" and loop.restarts == 143
    assert loop.line() == (
        "obm-loop RESTARTING, 143 restarts since start; last exception: ArithmeticException: / by zero"
    )

    failed = after["obm-failing"]
    assert failed.state == "FAILED" and not failed.healthy
    assert failed.line().endswith("ArithmeticException: / by zero (Flink stopped restarting it)")

    assert after["obm-alerts"].line() == "obm-alerts: not running"
    for health in after.values():
        assert "\n" not in health.line()


def _p(at_s: float, records_in: int, records_out: int, watermark_ms: int | None = None) -> Progress:
    return Progress(int(at_s * 1000), records_in, records_out, watermark_ms, 0)


@pytest.mark.parametrize(
    ("signal", "before", "now", "expected"),
    [
        ("output", _p(0, 10, 10), _p(60, 10, 10), None),  # no input: idle, not stalled
        ("output", _p(0, 10, 10), _p(60, 50, 50), None),
        ("output", _p(0, 10, 10), _p(60, 50, 10), "no output for 60 s while 40 records came in"),
        ("output", _p(0, 500, 500), _p(60, 20, 20), None),  # restarted in between: counters reset
        ("watermark", _p(0, 10, 0, 5_000), _p(60, 50, 0, 9_000), None),  # windows not closed yet
        ("watermark", _p(0, 10, 0), _p(60, 50, 0), "no watermark for 60 s while 40 records came in"),
        (
            "watermark",
            _p(0, 10, 3, 1_796_490_629_657),
            _p(90, 20, 3, 1_796_490_629_657),
            "watermark stuck at 2026-12-05T17:10:29Z for 90 s while 10 records came in",
        ),
    ],
)
def test_stall_rule(signal, before, now, expected) -> None:
    assert stall_reason(signal, before, now) == expected


def test_history_compares_with_the_newest_sample_old_enough(tmp_path: Path) -> None:
    history = ProgressHistory(tmp_path / "progress.json")
    assert history.baseline("j", 100_000, 30) is None
    for at_s in (0, 50, 65, 90):
        history.record({"j": _p(at_s, at_s, at_s)})
    assert history.baseline("j", 100_000, 30) == _p(65, 65, 65)
    assert history.baseline("j", 100_000, 200) is None
    history.record({"other": _p(99, 1, 1)})  # a job gone from the cluster loses its history
    assert history.baseline("j", 100_000, 30) is None


def test_a_failed_savepoint_is_one_line_not_a_serialized_throwable() -> None:
    """Flink's answer to a stop-with-savepoint of a job in a restart loop: 41 KB of JSON."""
    operation = json.loads((ANSWERS / "savepoint-of-a-restarting-job.json").read_text())["operation"]
    line, detail = _failure_cause(operation)
    assert line.startswith("CheckpointException: Checkpoint triggering task Source: src[1] -> Calc[2]")
    assert "Not all required tasks are currently running" in line or line.endswith("...")
    assert "\n" not in line and len(line) <= 240 and "java.util" not in line
    assert "CompletableFuture" in detail  # the whole trace is kept for the log


def test_one_line_cause_keeps_what_failed_and_why() -> None:
    text = (
        "java.io.IOException: Failed to deserialize consumer record due to\n"
        "\tat org.apache.flink.connector.kafka.source.reader.KafkaRecordEmitter.emitRecord(X.java:56)\n"
        "Caused by: java.io.IOException: Failed to deserialize consumer record ConsumerRecord(topic = x)\n"
        'Caused by: java.lang.NullPointerException: Cannot read the array length because "a" is null\n'
    )
    assert one_line_cause(text) == (
        "IOException: Failed to deserialize consumer record due to "
        '(caused by NullPointerException: Cannot read the array length because "a" is null)'
    )
    assert one_line_cause("") == "no detail"
