"""`obm jobs`: the Flink job lifecycle from the command line (submit, list, stop, cancel,
redeploy), against the embedded session cluster or any JobManager given with --jobmanager
host:port. Every command calls flink_jobs.lifecycle; a failure prints one line with Flink's cause."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from config import AlertSettings, FlinkSettings, KafkaSettings, MetricsJobSettings, StackSettings
from flink_jobs.lifecycle import (
    JobLifecycleError,
    cancel_job,
    find_active_job,
    list_jobs,
    redeploy_job,
    stop_job,
    submit_job,
)
from flink_jobs.registry import JOB_NAMES


def _flink(jobmanager: str | None) -> FlinkSettings:
    return FlinkSettings(jobmanager=jobmanager) if jobmanager else FlinkSettings()


def _default_savepoint_dir() -> str:
    return FlinkSettings().savepoint_dir or str(StackSettings().state_dir / "flink" / "savepoints")


def _settings_overrides(pairs: tuple[str, ...]) -> dict[str, object]:
    """`key=value` pairs, values parsed as JSON when they are (numbers, lists, objects)."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"expected key=value, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


jobmanager_option = click.option(
    "--jobmanager", default=None, help="host:port of the JobManager REST API (default: OBM_FLINK_JOBMANAGER)"
)
job_argument = click.argument("job", type=click.Choice(JOB_NAMES))


class JobsGroup(click.Group):
    """Turns a lifecycle failure into a one-line error instead of a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except JobLifecycleError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(f"no Flink JobManager answers: {exc}") from None


@click.group("jobs", cls=JobsGroup)
def jobs() -> None:
    """Submit, list, stop, cancel and redeploy the Flink jobs."""


def _job_id(flink: FlinkSettings, job_or_id: str) -> str:
    """A job name of the registry resolves to its active job's id; anything else is an id."""
    if job_or_id not in JOB_NAMES:
        return job_or_id
    running = find_active_job(flink, job_or_id)
    if running is None:
        raise click.ClickException(f"{job_or_id} is not running on {flink.jobmanager}")
    return running.job_id


@jobs.command("submit")
@job_argument
@jobmanager_option
@click.option(
    "--from-timestamp", "from_timestamp", type=int, default=None, help="start reading at T (ms, replay)"
)
@click.option("--savepoint", default=None, help="resume from this savepoint")
@click.option(
    "--allow-non-restored-state",
    is_flag=True,
    help="with --savepoint: skip savepoint state the new job has no operator for (its SQL changed)",
)
@click.option("--parallelism", type=int, default=None)
@click.option("--metric", "metric_pairs", multiple=True, help="metrics setting key=value (e.g. ofi_levels=5)")
@click.option(
    "--alert", "alert_pairs", multiple=True, help="alert setting key=value (e.g. imbalance_high=0.8)"
)
def submit(
    job,
    jobmanager,
    from_timestamp,
    savepoint,
    allow_non_restored_state,
    parallelism,
    metric_pairs,
    alert_pairs,
) -> None:
    """Submit JOB (metrics, bars or alerts) to the session cluster."""
    job_id = submit_job(
        job,
        flink=_flink(jobmanager),
        kafka=KafkaSettings(),
        from_timestamp_ms=from_timestamp,
        savepoint=savepoint,
        allow_non_restored_state=allow_non_restored_state,
        parallelism=parallelism,
        metrics=MetricsJobSettings(**_settings_overrides(metric_pairs)),  # type: ignore[arg-type]
        alerts=AlertSettings(**_settings_overrides(alert_pairs)),  # type: ignore[arg-type]
    )
    click.echo(job_id)


@jobs.command("list")
@jobmanager_option
@click.option("--all", "show_all", is_flag=True, help="include finished, cancelled and failed jobs")
def list_command(jobmanager, show_all) -> None:
    """The cluster's jobs: id, state, start time, name."""
    for job in list_jobs(_flink(jobmanager)):
        if show_all or job.active:
            started = datetime.fromtimestamp(job.start_time_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
            click.echo(f"{job.job_id}  {job.state:<11} {started}  {job.name}")


@jobs.command("stop")
@click.argument("job_or_id")
@jobmanager_option
@click.option("--savepoint-dir", default=None, help="where the savepoint goes (default: the stack's)")
def stop(job_or_id, jobmanager, savepoint_dir) -> None:
    """Stop JOB_OR_ID (a job name or a Flink job id) with a savepoint; prints its location."""
    flink = _flink(jobmanager)
    click.echo(stop_job(flink, _job_id(flink, job_or_id), savepoint_dir or _default_savepoint_dir()))


@jobs.command("cancel")
@click.argument("job_or_id")
@jobmanager_option
def cancel(job_or_id, jobmanager) -> None:
    """Cancel JOB_OR_ID without a savepoint (a job that cannot take one: it never ran, or it is in
    a restart loop). Its state is lost; its source resumes from the committed offsets."""
    flink = _flink(jobmanager)
    job_id = _job_id(flink, job_or_id)
    cancel_job(flink, job_id)
    click.echo(f"cancelled {job_id}")


@jobs.command("redeploy")
@job_argument
@jobmanager_option
@click.option("--savepoint-dir", default=None)
@click.option(
    "--parallelism",
    type=click.IntRange(min=1),
    default=None,
    help="rescale to N parallel instances (default: the settings' parallelism for JOB)",
)
@click.option("--metric", "metric_pairs", multiple=True, help="new metrics setting key=value")
@click.option("--alert", "alert_pairs", multiple=True, help="new alert setting key=value")
def redeploy(job, jobmanager, savepoint_dir, parallelism, metric_pairs, alert_pairs) -> None:
    """Stop JOB with a savepoint and resubmit it from there (new parallelism or settings). Its
    state is shared out over the new instances by key: e.g. `obm jobs redeploy metrics
    --parallelism 2`. Useful up to the input topic's partitions (OBM_KAFKA_TOPIC_PARTITIONS)."""
    new_id, savepoint = redeploy_job(
        job,
        flink=_flink(jobmanager),
        kafka=KafkaSettings(),
        savepoint_dir=savepoint_dir or _default_savepoint_dir(),
        parallelism=parallelism,
        metrics=MetricsJobSettings(**_settings_overrides(metric_pairs)),  # type: ignore[arg-type]
        alerts=AlertSettings(**_settings_overrides(alert_pairs)),  # type: ignore[arg-type]
        say=lambda line: click.echo(line, err=True),
    )
    click.echo(f"{new_id} (from {savepoint})")
