"""The job-submit service's decisions, against a real HTTP server standing in for the Flink REST
API's /jobs/overview, with submit/redeploy actions that change what it lists (the real actions are
flink_jobs.lifecycle's, tested against a real cluster in tests/flink)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from obm.operator.job_rollout import (
    Action,
    JobActions,
    RolloutRecord,
    active_jobs,
    decide,
    fingerprint,
    read_record,
    rollout,
    write_record,
)

pytestmark = pytest.mark.unit


def test_decide() -> None:
    rec = RolloutRecord("abc", "j1", 0.0)
    assert decide(False, None, "abc") is Action.SUBMIT
    assert decide(False, rec, "abc") is Action.SUBMIT
    assert decide(True, rec, "abc") is Action.KEEP
    assert decide(True, rec, "def") is Action.REDEPLOY
    assert decide(True, None, "abc") is Action.REDEPLOY


def test_fingerprint_follows_code_and_job_settings_only(tmp_path: Path) -> None:
    (tmp_path / "metrics.py").write_text("x = 1\n")
    (tmp_path / "notes.txt").write_text("ignored\n")
    base = fingerprint(tmp_path, {"OBM_ALERT_IMBALANCE_HIGH": "0.7", "HOME": "/root"})
    assert base == fingerprint(tmp_path, {"OBM_ALERT_IMBALANCE_HIGH": "0.7", "HOME": "/elsewhere"})
    assert base != fingerprint(tmp_path, {"OBM_ALERT_IMBALANCE_HIGH": "0.8"})
    (tmp_path / "notes.txt").write_text("still ignored\n")
    assert base == fingerprint(tmp_path, {"OBM_ALERT_IMBALANCE_HIGH": "0.7"})
    (tmp_path / "metrics.py").write_text("x = 2\n")
    assert base != fingerprint(tmp_path, {"OBM_ALERT_IMBALANCE_HIGH": "0.7"})


def test_records_round_trip_and_tolerate_garbage(tmp_path: Path) -> None:
    assert read_record(tmp_path, "metrics") is None
    write_record(tmp_path, "metrics", RolloutRecord("f1", "j1", 5.0))
    assert read_record(tmp_path, "metrics") == RolloutRecord("f1", "j1", 5.0)
    (tmp_path / "bars.json").write_text("{not json")
    assert read_record(tmp_path, "bars") is None


class FakeJobManager:
    """Just enough of Flink's REST API: /jobs/overview listing the jobs `obm jobs` started."""

    def __init__(self) -> None:
        self.jobs: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = json.dumps({"jobs": outer.jobs}).encode()
                self.send_response(200 if self.path == "/jobs/overview" else 404)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def jobmanager() -> Iterator[FakeJobManager]:
    jm = FakeJobManager()
    yield jm
    jm.server.shutdown()


def _actions(jm: FakeJobManager, calls: list[list[str]]) -> JobActions:
    """Submit and redeploy as the JobManager sees them: the job's earlier run ends, a new one runs."""

    def start(action: str, job: str) -> str:
        calls.append([action, job])
        for j in jm.jobs:
            if j["name"] == job:
                j["state"] = "CANCELED"
        jm.jobs.append({"jid": f"id{len(jm.jobs)}", "name": job, "state": "RUNNING"})
        return jm.jobs[-1]["jid"]

    return JobActions(submit=lambda job: start("submit", job), redeploy=lambda job: start("redeploy", job))


def test_rollout_submits_keeps_and_redeploys(tmp_path: Path, jobmanager: FakeJobManager) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "job.py").write_text("v = 1\n")
    records = tmp_path / "records"
    calls: list[list[str]] = []
    actions = _actions(jobmanager, calls)

    first = rollout(actions, ["metrics", "bars"], jobmanager.address, records, code, env={})
    assert first == {"metrics": Action.SUBMIT, "bars": Action.SUBMIT}
    assert set(active_jobs(jobmanager.address).values()) == {"metrics", "bars"}
    assert read_record(records, "metrics").job_id == "id0"

    calls.clear()
    again = rollout(actions, ["metrics", "bars"], jobmanager.address, records, code, env={})
    assert again == {"metrics": Action.KEEP, "bars": Action.KEEP} and not calls

    (code / "job.py").write_text("v = 2\n")
    changed = rollout(actions, ["metrics"], jobmanager.address, records, code, env={})
    assert changed == {"metrics": Action.REDEPLOY}
    assert calls == [["redeploy", "metrics"]]
    assert read_record(records, "metrics").job_id == "id2"

    # the job died (e.g. the JobManager restarted without HA): submitted again
    for j in jobmanager.jobs:
        j["state"] = "FAILED"
    assert rollout(actions, ["metrics"], jobmanager.address, records, code, env={}) == {
        "metrics": Action.SUBMIT
    }


def test_a_job_in_a_restart_loop_counts_as_running(jobmanager: FakeJobManager) -> None:
    """Submitting beside a RESTARTING job would run it twice once it recovers."""
    jobmanager.jobs += [
        {"jid": "a", "name": "metrics", "state": "RESTARTING"},
        {"jid": "b", "name": "bars", "state": "FAILED"},
    ]
    assert active_jobs(jobmanager.address) == {"a": "metrics"}
