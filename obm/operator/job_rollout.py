"""The Compose `job-submit` service: bring the Flink jobs in line with the code in the image.

Run once per `docker compose up`, it decides for each job:

    not running                         -> submit it
    running, same code and settings     -> leave it alone
    running, code or settings changed   -> redeploy it (stop with a savepoint, resubmit from it)

"Code and settings" is a fingerprint of flink_jobs/ (*.py, *.sql) plus the OBM_FLINK_*,
OBM_METRICS_*, OBM_ALERT_* and OBM_KAFKA_* environment, recorded per job on the savepoints volume
after each submit, so a rebuilt image (or a changed threshold) redeploys from a savepoint and a
plain restart of the stack does not. The work itself is done by the job lifecycle API
(flink_jobs.lifecycle), the same calls `obm jobs` and `obm up` make; this module only decides.

    python -m obm.operator.job_rollout --jobmanager flink-jobmanager:8081 metrics bars alerts
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import click

from flink_jobs.flink_rest import ACTIVE_STATES, FlinkRest, JobLifecycleError

JOB_CODE_DIR = Path(__file__).resolve().parents[2] / "flink_jobs"
FINGERPRINT_ENV_PREFIXES = ("OBM_FLINK_", "OBM_METRICS_", "OBM_ALERT_", "OBM_KAFKA_")


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


@dataclass(frozen=True)
class JobActions:
    """What the rollout does to a job, each returning the new Flink job id: the lifecycle API in
    production (`lifecycle_actions`), anything with the same shape in a test."""

    submit: Callable[[str], str]
    redeploy: Callable[[str], str]


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


def active_jobs(jobmanager: str) -> dict[str, str]:
    """job id -> name of the jobs the JobManager runs (or is starting)."""
    return {
        j["jid"]: j["name"] for j in FlinkRest(jobmanager, 5.0).jobs_overview() if j["state"] in ACTIVE_STATES
    }


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


def rollout(
    actions: JobActions,
    jobs: Sequence[str],
    jobmanager: str,
    record_dir: Path,
    code_dir: Path = JOB_CODE_DIR,
    env: Mapping[str, str] | None = None,
) -> dict[str, Action]:
    current = fingerprint(code_dir, os.environ if env is None else env)
    done: dict[str, Action] = {}
    for job in jobs:
        record = read_record(record_dir, job)
        running = record is not None and record.job_id in active_jobs(jobmanager)
        action = decide(running, record, current)
        click.echo(
            f"{job}: {action.value} (code {current}, deployed {record.fingerprint if record else '-'})"
        )
        if action is not Action.KEEP:
            job_id = actions.submit(job) if action is Action.SUBMIT else actions.redeploy(job)
            write_record(record_dir, job, RolloutRecord(current, job_id, time.time()))
        done[job] = action
    return done


def lifecycle_actions(jobmanager: str, savepoint_dir: str) -> JobActions:
    """Submit and redeploy through flink_jobs.lifecycle, with the settings of the environment."""
    from config import AlertSettings, FlinkSettings, KafkaSettings, MetricsJobSettings
    from flink_jobs.lifecycle import redeploy_job, submit_job

    flink, kafka = FlinkSettings(jobmanager=jobmanager), KafkaSettings()
    metrics, alerts = MetricsJobSettings(), AlertSettings()

    def submit(job: str) -> str:
        return submit_job(job, flink=flink, kafka=kafka, metrics=metrics, alerts=alerts)

    def redeploy(job: str) -> str:
        new_id, savepoint = redeploy_job(
            job, flink=flink, kafka=kafka, metrics=metrics, alerts=alerts, savepoint_dir=savepoint_dir,
            say=click.echo,
        )  # fmt: skip
        click.echo(f"{job}: redeployed from {savepoint}")
        return new_id

    return JobActions(submit=submit, redeploy=redeploy)


@click.command("rollout")
@click.argument("jobs", nargs=-1, required=True)
@click.option("--jobmanager", required=True, help="host:port of the JobManager's REST API.")
@click.option(
    "--record-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("/flink-data/savepoints/rollout"),
    show_default=True,
    help="Where the fingerprint of each deployed job is kept (a volume that outlives containers).",
)
@click.option(
    "--savepoint-dir",
    default="file:///flink-data/savepoints",
    show_default=True,
    help="Where a redeploy's savepoint goes: a path the JobManager and TaskManagers share.",
)
def main(jobs: tuple[str, ...], jobmanager: str, record_dir: Path, savepoint_dir: str) -> None:
    """Submit absent jobs; redeploy from a savepoint those whose code or settings changed."""
    try:
        rollout(lifecycle_actions(jobmanager, savepoint_dir), jobs, jobmanager, record_dir)
    except JobLifecycleError as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":
    main()
