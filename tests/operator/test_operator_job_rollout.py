"""The job-submit service's decisions, against a real HTTP server standing in for the Flink REST
API's /jobs/overview and a real click group standing in for `obm jobs`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click
import pytest

from obm.operator.job_rollout import (
    Action,
    RolloutRecord,
    active_jobs,
    decide,
    fingerprint,
    jobs_command_args,
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


def _jobs_group(jm: FakeJobManager, calls: list[list[str]], option_on_group: bool) -> click.Group:
    """A click group shaped like `obm jobs`, whose commands change what the JobManager lists."""

    def start(job: str) -> None:
        for j in jm.jobs:
            if j["name"] == job:
                j["state"] = "CANCELED"
        jm.jobs.append({"jid": f"id{len(jm.jobs)}", "name": job, "state": "RUNNING"})

    if option_on_group:

        @click.group()
        @click.option("--jobmanager")
        def group(jobmanager: str) -> None:
            calls.append(["group", jobmanager])

        @group.command()
        @click.argument("job")
        def submit(job: str) -> None:
            calls.append(["submit", job])
            start(job)

        @group.command()
        @click.argument("job")
        def redeploy(job: str) -> None:
            calls.append(["redeploy", job])
            start(job)

        return group

    @click.group()
    def plain() -> None:
        pass

    @plain.command("submit")
    @click.argument("job")
    @click.option("--jobmanager")
    def submit2(job: str, jobmanager: str) -> None:
        calls.append(["submit", job, jobmanager])
        start(job)

    @plain.command("redeploy")
    @click.argument("job")
    @click.option("--jobmanager")
    def redeploy2(job: str, jobmanager: str) -> None:
        calls.append(["redeploy", job, jobmanager])
        start(job)

    return plain


def test_jobs_command_args_put_jobmanager_where_declared(jobmanager: FakeJobManager) -> None:
    on_group = _jobs_group(jobmanager, [], option_on_group=True)
    on_sub = _jobs_group(jobmanager, [], option_on_group=False)
    assert jobs_command_args(on_group, Action.SUBMIT, "bars", "jm:8081") == [
        "--jobmanager",
        "jm:8081",
        "submit",
        "bars",
    ]
    assert jobs_command_args(on_sub, Action.REDEPLOY, "bars", "jm:8081") == [
        "redeploy",
        "bars",
        "--jobmanager",
        "jm:8081",
    ]


@pytest.mark.parametrize("option_on_group", [True, False])
def test_rollout_submits_keeps_and_redeploys(
    tmp_path: Path, jobmanager: FakeJobManager, option_on_group: bool
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "job.py").write_text("v = 1\n")
    records = tmp_path / "records"
    calls: list[list[str]] = []
    group = _jobs_group(jobmanager, calls, option_on_group)

    first = rollout(group, ["metrics", "bars"], jobmanager.address, records, code, env={}, appear_timeout_s=5)
    assert first == {"metrics": Action.SUBMIT, "bars": Action.SUBMIT}
    assert set(active_jobs(jobmanager.address).values()) == {"metrics", "bars"}
    assert read_record(records, "metrics").job_id == "id0"

    calls.clear()
    again = rollout(group, ["metrics", "bars"], jobmanager.address, records, code, env={}, appear_timeout_s=5)
    assert again == {"metrics": Action.KEEP, "bars": Action.KEEP} and not calls

    (code / "job.py").write_text("v = 2\n")
    changed = rollout(group, ["metrics"], jobmanager.address, records, code, env={}, appear_timeout_s=5)
    assert changed == {"metrics": Action.REDEPLOY}
    assert [c for c in calls if c[0] != "group"][0][:2] == ["redeploy", "metrics"]
    assert read_record(records, "metrics").job_id == "id2"

    # the job died (e.g. the JobManager restarted without HA): submitted again
    for j in jobmanager.jobs:
        j["state"] = "FAILED"
    assert rollout(group, ["metrics"], jobmanager.address, records, code, env={}, appear_timeout_s=5) == {
        "metrics": Action.SUBMIT
    }


def test_missing_jobs_command_is_reported() -> None:
    @click.group()
    def bare() -> None:
        pass

    with pytest.raises(click.ClickException, match="no `redeploy` command"):
        jobs_command_args(bare, Action.REDEPLOY, "bars", "jm:8081")
