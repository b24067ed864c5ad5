"""`obm up` resumes each job from the savepoint of the last `down`; when a newer version of a job
changed its operators, Flink refuses that savepoint, and the stack resubmits with
--allowNonRestoredState instead of failing to start (seen for real after the metrics SQL changed)."""

from __future__ import annotations

import json

import pytest

import flink_jobs.lifecycle as lifecycle
from config import AlertSettings, FlinkSettings, KafkaSettings, MetricsJobSettings, StackSettings
from flink_jobs.lifecycle import JobLifecycleError
from obm.stack.jobs_component import FlinkJobs

pytestmark = pytest.mark.unit

REFUSAL = (
    "flink run metrics failed (exit 31):\nCaused by: java.lang.IllegalStateException: Failed to rollback to "
    "checkpoint/savepoint file:/x. Cannot map checkpoint/savepoint state for operator 86af to the new program"
)


def make_jobs(tmp_path, monkeypatch, fail_with: str | None):
    savepoint = tmp_path / "savepoint-1"
    savepoint.mkdir()
    (tmp_path / "flink").mkdir()
    (tmp_path / "flink" / "last-savepoints.json").write_text(json.dumps({"metrics": f"file:{savepoint}"}))
    calls: list[dict] = []

    def fake_submit(job, **kw):
        calls.append({"job": job, **kw})
        if fail_with and not kw.get("allow_non_restored_state"):
            raise JobLifecycleError(fail_with)
        return "0" * 32

    monkeypatch.setattr(lifecycle, "submit_job", fake_submit)
    flink = FlinkSettings(jobs=["metrics"])
    jobs = FlinkJobs(
        flink, KafkaSettings(), StackSettings(state_dir=tmp_path), MetricsJobSettings(), AlertSettings()
    )
    monkeypatch.setattr(FlinkJobs, "running_jobs", lambda self: {})
    return jobs, calls, f"file:{savepoint}"


def test_an_incompatible_savepoint_is_resumed_with_what_maps(tmp_path, monkeypatch, capsys):
    jobs, calls, savepoint = make_jobs(tmp_path, monkeypatch, REFUSAL)
    jobs.start()
    assert [c.get("allow_non_restored_state", False) for c in calls] == [False, True]
    assert all(c["savepoint"] == savepoint for c in calls)
    assert "does not fit the new job" in capsys.readouterr().err


def test_other_submission_failures_are_not_retried(tmp_path, monkeypatch):
    jobs, calls, _ = make_jobs(tmp_path, monkeypatch, "flink run metrics failed (exit 1): connection refused")
    with pytest.raises(JobLifecycleError, match="connection refused"):
        jobs.start()
    assert len(calls) == 1


def test_a_compatible_savepoint_is_resumed_in_full(tmp_path, monkeypatch):
    jobs, calls, savepoint = make_jobs(tmp_path, monkeypatch, None)
    jobs.start()
    assert calls == [{"job": "metrics", "flink": jobs.flink, "kafka": jobs.kafka, "savepoint": savepoint,
                      "metrics": jobs.metrics, "alerts": jobs.alerts}]  # fmt: skip


def test_redeploy_of_changed_code_resubmits_with_what_maps(monkeypatch):
    calls: list[dict] = []

    def fake_submit(job, **kw):
        calls.append(kw)
        if not kw.get("allow_non_restored_state"):
            raise JobLifecycleError(REFUSAL)
        return "1" * 32

    running = lifecycle.FlinkJob(job_id="2" * 32, name="obm-metrics", state="RUNNING", start_time_ms=1)
    monkeypatch.setattr(lifecycle, "find_active_job", lambda flink, job: running)
    monkeypatch.setattr(lifecycle, "stop_job", lambda flink, job_id, d: "file:/sp/savepoint-9")
    monkeypatch.setattr(lifecycle, "submit_job", fake_submit)
    new_id, savepoint = lifecycle.redeploy_job(
        "metrics", flink=FlinkSettings(), kafka=KafkaSettings(), savepoint_dir="/sp"
    )
    assert (new_id, savepoint) == ("1" * 32, "file:/sp/savepoint-9")
    assert [c.get("allow_non_restored_state", False) for c in calls] == [False, True]


def test_down_cancels_a_job_that_cannot_take_a_savepoint_and_says_so(tmp_path, monkeypatch):
    """A job that never ran keeps the savepoint it was started from; one that ran but cannot take
    a savepoint (a restart loop) loses its stale one: the next `up` resumes from committed offsets."""
    jobs, _, savepoint = make_jobs(tmp_path, monkeypatch, None)
    saved = json.loads(jobs.savepoints_file.read_text()) | {"alerts": "file:/old/alerts"}
    jobs.savepoints_file.write_text(json.dumps(saved))
    ids = {"metrics": "m" * 32, "bars": "b" * 32, "alerts": "a" * 32}
    monkeypatch.setattr(FlinkJobs, "running_jobs", lambda self: ids)
    results = {
        ids["metrics"]: lifecycle.StopResult(
            None, "CheckpointException: not all tasks running", ever_ran=False
        ),
        ids["bars"]: lifecycle.StopResult("file:/sp/bars-1"),
        ids["alerts"]: lifecycle.StopResult(
            None, "CheckpointException: not all tasks running", ever_ran=True
        ),
    }
    monkeypatch.setattr(lifecycle, "stop_or_cancel", lambda flink, job_id, d: results[job_id])
    jobs.stop()
    assert json.loads(jobs.savepoints_file.read_text()) == {"metrics": savepoint, "bars": "file:/sp/bars-1"}
    assert jobs.stop_notes == [
        "obm-metrics: cancelled, it could not take a savepoint (CheckpointException: not all tasks running)",
        "obm-bars: stopped with a savepoint (file:/sp/bars-1)",
        "obm-alerts: cancelled, it could not take a savepoint (CheckpointException: not all tasks running)",
    ]
