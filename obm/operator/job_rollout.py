"""The Compose `job-submit` service: bring the Flink jobs in line with the code in the image.

Run once per `docker compose up`, it decides for each job:

    not running                         -> `obm jobs submit JOB`
    running, same code and settings     -> leave it alone
    running, code or settings changed   -> `obm jobs redeploy JOB` (stop with a savepoint, resubmit)

"Code and settings" is a fingerprint of flink_jobs/ (*.py, *.sql) plus the OBM_FLINK_*,
OBM_METRICS_*, OBM_ALERT_* and OBM_KAFKA_* environment, recorded per job on the savepoints volume
after each submit, so a rebuilt image (or a changed threshold) redeploys from a savepoint and a
plain restart of the stack does not. The work itself is done by the `obm jobs` commands
(flink_jobs.cli), invoked in-process; this module only decides.

    python -m obm.operator.job_rollout --jobmanager flink-jobmanager:8081 metrics bars alerts
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import click

JOB_CODE_DIR = Path(__file__).resolve().parents[2] / "flink_jobs"
FINGERPRINT_ENV_PREFIXES = ("OBM_FLINK_", "OBM_METRICS_", "OBM_ALERT_", "OBM_KAFKA_")
ACTIVE_STATES = {"CREATED", "INITIALIZING", "RUNNING", "RESTARTING", "RECONCILING"}


class Action(StrEnum):
    SUBMIT = "submit"
    REDEPLOY = "redeploy"
    KEEP = "keep"


@dataclass(frozen=True)
class RolloutRecord:
    """What was last deployed for one job: its fingerprint and Flink job id."""

    fingerprint: str
    job_id: str | None
    deployed_at: float


def fingerprint(code_dir: Path, env: Mapping[str, str]) -> str:
    """A short hash of the job code and of the settings the jobs read from the environment."""
    digest = hashlib.sha256()
    for path in sorted(p for p in code_dir.rglob("*") if p.suffix in (".py", ".sql") and p.is_file()):
        digest.update(path.relative_to(code_dir).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for key in sorted(k for k in env if k.startswith(FINGERPRINT_ENV_PREFIXES)):
        digest.update(f"{key}={env[key]}\0".encode())
    return digest.hexdigest()[:16]


def decide(running: bool, record: RolloutRecord | None, current: str) -> Action:
    if not running:
        return Action.SUBMIT
    if record is None or record.fingerprint != current:
        return Action.REDEPLOY
    return Action.KEEP


def active_jobs(jobmanager: str, timeout_s: float = 5.0) -> dict[str, str]:
    """job id -> name of the jobs the JobManager runs (or is starting)."""
    with urllib.request.urlopen(f"http://{jobmanager}/jobs/overview", timeout=timeout_s) as resp:
        jobs = json.loads(resp.read())["jobs"]
    return {j["jid"]: j["name"] for j in jobs if j["state"] in ACTIVE_STATES}


def read_record(record_dir: Path, job: str) -> RolloutRecord | None:
    try:
        data = json.loads((record_dir / f"{job}.json").read_text())
        return RolloutRecord(data["fingerprint"], data.get("job_id"), float(data.get("deployed_at", 0)))
    except (OSError, ValueError, KeyError):
        return None


def write_record(record_dir: Path, job: str, record: RolloutRecord) -> None:
    record_dir.mkdir(parents=True, exist_ok=True)
    tmp = record_dir / f".{job}.json.tmp"
    tmp.write_text(json.dumps(record.__dict__))
    tmp.replace(record_dir / f"{job}.json")


def jobs_command_args(group: click.Group, action: Action, job: str, jobmanager: str) -> list[str]:
    """Arguments for `obm jobs <action> JOB`, with --jobmanager where the jobs CLI declares it
    (on the group or on the subcommand)."""
    sub = group.commands.get(action.value)
    if sub is None:
        raise click.ClickException(f"`obm jobs` has no `{action.value}` command")

    def takes_jobmanager(cmd: click.Command) -> bool:
        return any(isinstance(p, click.Option) and "--jobmanager" in p.opts for p in cmd.params)

    if takes_jobmanager(group):
        return ["--jobmanager", jobmanager, action.value, job]
    if takes_jobmanager(sub):
        return [action.value, job, "--jobmanager", jobmanager]
    raise click.ClickException(f"`obm jobs {action.value}` takes no --jobmanager option")


def run_jobs_command(group: click.Group, args: Sequence[str]) -> None:
    group.main(args=list(args), prog_name="obm jobs", standalone_mode=False)


def rollout(
    group: click.Group,
    jobs: Sequence[str],
    jobmanager: str,
    record_dir: Path,
    code_dir: Path = JOB_CODE_DIR,
    env: Mapping[str, str] | None = None,
    appear_timeout_s: float = 60.0,
) -> dict[str, Action]:
    current = fingerprint(code_dir, os.environ if env is None else env)
    done: dict[str, Action] = {}
    for job in jobs:
        record = read_record(record_dir, job)
        before = active_jobs(jobmanager)
        running = record is not None and record.job_id in before
        action = decide(running, record, current)
        click.echo(
            f"{job}: {action.value} (code {current}, deployed {record.fingerprint if record else '-'})"
        )
        if action is not Action.KEEP:
            run_jobs_command(group, jobs_command_args(group, action, job, jobmanager))
            job_id = _wait_for_new_job(jobmanager, set(before), appear_timeout_s)
            write_record(record_dir, job, RolloutRecord(current, job_id, time.time()))
        done[job] = action
    return done


def _wait_for_new_job(jobmanager: str, before: set[str], timeout_s: float) -> str | None:
    """The id of the job the submit started (the one that was not there before), once it shows."""
    deadline = time.monotonic() + timeout_s
    while True:
        new = [jid for jid in active_jobs(jobmanager) if jid not in before]
        if new or time.monotonic() >= deadline:
            return new[0] if new else None
        time.sleep(1.0)


@click.command("rollout")
@click.argument("jobs", nargs=-1, required=True)
@click.option("--jobmanager", required=True, help="host:port of the JobManager's REST API.")
@click.option(
    "--record-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/flink-data/rollout"),
    show_default=True,
    help="Where the fingerprint of each deployed job is kept (a volume that outlives containers).",
)
def main(jobs: tuple[str, ...], jobmanager: str, record_dir: Path) -> None:
    """Submit absent jobs; redeploy from a savepoint those whose code or settings changed."""
    from flink_jobs.cli import jobs as jobs_group  # imported here: it pulls in PyFlink

    rollout(jobs_group, jobs, jobmanager, record_dir)


if __name__ == "__main__":
    main()
