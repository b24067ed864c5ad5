"""The one lifecycle API of the Flink jobs, against a running session cluster, embedded or remote:
submit (through the `flink` client shipped in the apache-flink wheel, as the Compose stack does),
list, stop with a savepoint, cancel, redeploy, and resume from a savepoint that may no longer fit.
`obm jobs`, `obm up`/`obm down` and the Compose rollout all call these functions; only `host:port`
of the JobManager is needed, so the same calls work against any cluster."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from config import AlertSettings, FlinkSettings, KafkaSettings, MetricsJobSettings
from flink_jobs.flink_rest import ACTIVE_STATES, FlinkRest, JobLifecycleError, JobState, one_line_cause
from flink_jobs.registry import job_definition, job_display_name

__all__ = [
    "FlinkJob",
    "JobLifecycleError",
    "StopResult",
    "cancel_job",
    "find_active_job",
    "list_jobs",
    "redeploy_job",
    "resume_job",
    "stop_job",
    "stop_or_cancel",
    "submit_job",
    "submit_program",
]

ENTRYPOINT = Path(__file__).resolve().parent / "entrypoint.py"
TERMINAL_STATES = frozenset({JobState.CANCELED, JobState.FAILED, JobState.FINISHED})


@dataclass(frozen=True)
class FlinkJob:
    job_id: str
    name: str
    state: str
    start_time_ms: int

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


def flink_client() -> Path:
    """The `flink` CLI inside the apache-flink wheel."""
    import pyflink

    return Path(pyflink.__file__).resolve().parent / "bin" / "flink"


def _client_conf_dir(flink: FlinkSettings) -> Path:
    """A FLINK_CONF_DIR for the client that addresses the given JobManager."""
    host, port = flink.jobmanager.rsplit(":", 1)
    conf = Path(tempfile.gettempdir()) / f"obm-flink-client-{host}-{port}"
    conf.mkdir(parents=True, exist_ok=True)
    shipped = flink_client().parent.parent / "conf"
    for name in ("log4j-cli.properties", "logback.xml"):
        if (shipped / name).exists():
            shutil.copy(shipped / name, conf / name)
    # The shipped config carries the JVM options Flink needs on Java 17 (--add-opens …).
    config = yaml.safe_load((shipped / "config.yaml").read_text()) or {}
    config["rest"] = {**config.get("rest", {}), "address": host, "port": int(port)}
    config["jobmanager"] = {**config.get("jobmanager", {}), "rpc": {"address": host}}
    config["python"] = {"executable": sys.executable, "client": {"executable": sys.executable}}
    # The client JVM lives for one submission: C1-only JIT and the serial collector halve its
    # time here (bench: 2 cores, `flink run` of a job 20-39 s -> 8-20 s, alternated runs).
    opts = config.setdefault("env", {}).setdefault("java", {}).setdefault("opts", {})
    opts["client"] = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto"
    (conf / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return conf


def _client_env(flink: FlinkSettings) -> dict[str, str]:
    env = dict(os.environ)
    env["FLINK_CONF_DIR"] = str(_client_conf_dir(flink))
    if "JAVA_HOME" not in env and shutil.which("java"):
        env["JAVA_HOME"] = str(Path(os.path.realpath(shutil.which("java") or "")).parents[1])
    return env


def _client_failure(out: str) -> str:
    """The cause of a failed `flink run`: the Python error of the job program when there is one
    (its last traceback line), else the innermost Java cause."""
    traceback_end = re.findall(r"^(\w+(?:\.\w+)*(?:Error|Exception)\b.*)$", out, re.M)
    python_errors = [ln for ln in traceback_end if not ln.startswith(("java.", "org.apache."))]
    return one_line_cause(python_errors[-1]) if python_errors else one_line_cause(out)


def submit_program(
    flink: FlinkSettings,
    program: Path,
    args: list[str],
    *,
    savepoint: str | None = None,
    allow_non_restored_state: bool = False,
    parallelism: int | None = None,
    what: str | None = None,
    timeout_s: float = 180.0,
) -> str:
    """`flink run -d` of a PyFlink program on the cluster; returns the Flink job id."""
    argv = [str(flink_client()), "run", "-d", "-m", flink.jobmanager]
    if savepoint:
        argv += ["-s", savepoint]
        if allow_non_restored_state:
            argv += ["--allowNonRestoredState"]
    if parallelism:
        argv += ["-p", str(parallelism)]
    argv += ["-py", str(program), "-pyexec", sys.executable, "-pyclientexec", sys.executable, *args]
    proc = subprocess.run(argv, env=_client_env(flink), capture_output=True, text=True, timeout=timeout_s)
    out = proc.stdout + proc.stderr
    match = re.search(r"JobID ([0-9a-f]{32})", out) or re.search(r"obm job id: ([0-9a-f]{32})", out)
    if proc.returncode != 0 or not match:
        label = what or program.name
        raise JobLifecycleError(
            f"flink run {label} failed (exit {proc.returncode}): {_client_failure(out)}", out
        )
    return match.group(1)


def submit_job(
    job: str,
    *,
    flink: FlinkSettings,
    kafka: KafkaSettings,
    from_timestamp_ms: int | None = None,
    savepoint: str | None = None,
    parallelism: int | None = None,
    metrics: MetricsJobSettings | None = None,
    alerts: AlertSettings | None = None,
    allow_non_restored_state: bool = False,
    timeout_s: float = 180.0,
) -> str:
    """Submit one of the registry's jobs detached; returns the Flink job id.

    `from_timestamp_ms` starts reading the input topic at that time (replay); `savepoint`
    resumes state and offsets from a savepoint (taking precedence over the timestamp).
    `allow_non_restored_state` restores what of the savepoint maps onto the new plan and skips the
    rest (Flink's --allowNonRestoredState): for a job whose SQL changed its operators.
    `parallelism` defaults to the settings' for this job (FlinkSettings.parallelism_of)."""
    job_definition(job)  # an unknown name fails here, before the client JVM starts
    parallelism = parallelism or flink.parallelism_of(job)
    from flink_jobs.pipelines import JobSpec  # imports PyFlink: only where a job is submitted

    spec = JobSpec(
        job=job,
        flink=flink,
        kafka=kafka,
        metrics=metrics or MetricsJobSettings(),
        alerts=alerts or AlertSettings(),
        from_timestamp_ms=from_timestamp_ms,
        parallelism=parallelism,
    )
    return submit_program(
        flink,
        ENTRYPOINT,
        ["--spec", spec.to_json()],
        savepoint=savepoint,
        allow_non_restored_state=allow_non_restored_state,
        parallelism=parallelism,
        what=job,
        timeout_s=timeout_s,
    )


def resume_job(
    job: str,
    *,
    savepoint: str | None,
    say: Callable[[str], None],
    **submit_args: Any,
) -> str:
    """Submit `job` from `savepoint` (or fresh without one). When Flink refuses the savepoint
    because the job's operators changed (new code), resubmit with --allowNonRestoredState: what
    still maps is restored (e.g. the Kafka source's offsets; otherwise the source resumes from its
    consumer group's committed offsets), the rest of the state starts empty, and `say` tells so.
    Failing instead would leave the job down."""
    try:
        return submit_job(job, savepoint=savepoint, **submit_args)
    except JobLifecycleError as exc:
        if not (savepoint and exc.savepoint_incompatible):
            raise
    say(
        f"{job}: the savepoint does not fit the new job (its SQL changed); resuming with what maps, "
        f"the rest of its state starts empty ({savepoint})"
    )
    return submit_job(job, savepoint=savepoint, allow_non_restored_state=True, **submit_args)


def list_jobs(flink: FlinkSettings) -> list[FlinkJob]:
    """Every job the cluster knows (running and finished), newest first."""
    jobs = [
        FlinkJob(job_id=j["jid"], name=j["name"], state=j["state"], start_time_ms=int(j.get("start-time", 0)))
        for j in FlinkRest.of(flink).jobs_overview()
    ]
    return sorted(jobs, key=lambda j: j.start_time_ms, reverse=True)


def find_active_job(flink: FlinkSettings, job: str) -> FlinkJob | None:
    name = job_display_name(job)
    return next((j for j in list_jobs(flink) if j.name == name and j.active), None)


def _failure_cause(operation: dict[str, Any]) -> tuple[str, str]:
    """(one line, full text) of a failed asynchronous operation's `failure-cause`."""
    cause = operation.get("failure-cause") or {}
    if not isinstance(cause, dict):
        return one_line_cause(str(cause)), str(cause)
    trace = str(cause.get("stack-trace") or cause.get("class") or "unknown failure")
    return one_line_cause(trace), trace


def stop_job(flink: FlinkSettings, job_id: str, savepoint_dir: str, timeout_s: float = 120.0) -> str:
    """Stop a job with a savepoint into `savepoint_dir`; returns the savepoint's location.
    When the savepoint fails the job keeps running (Flink's behaviour) and this raises."""
    rest = FlinkRest.of(flink)
    target = savepoint_dir if "://" in savepoint_dir else Path(savepoint_dir).resolve().as_uri()
    trigger = rest.post(f"/jobs/{job_id}/stop", {"targetDirectory": target, "drain": False})
    request_id = trigger["request-id"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = rest.get(f"/jobs/{job_id}/savepoints/{request_id}")
        if status.get("status", {}).get("id") == "COMPLETED":
            operation = status.get("operation", {})
            if "location" in operation:
                return str(operation["location"])
            line, detail = _failure_cause(operation)
            raise JobLifecycleError(f"stop with savepoint of {job_id} failed: {line}", detail)
        time.sleep(0.5)
    raise JobLifecycleError(f"stop with savepoint of {job_id} did not finish within {timeout_s:.0f} s")


def cancel_job(flink: FlinkSettings, job_id: str, timeout_s: float = 60.0) -> None:
    """Cancel a job without a savepoint and wait until it is gone."""
    rest = FlinkRest.of(flink)
    rest.patch(f"/jobs/{job_id}?mode=cancel")
    deadline = time.monotonic() + timeout_s
    while rest.get(f"/jobs/{job_id}").get("state") not in TERMINAL_STATES:
        if time.monotonic() > deadline:
            raise JobLifecycleError(f"cancelling {job_id} did not finish within {timeout_s:.0f} s")
        time.sleep(0.5)


@dataclass(frozen=True)
class StopResult:
    """How a job was stopped: with a savepoint, or cancelled because it could not take one."""

    savepoint: str | None
    cancelled_because: str | None = None
    ever_ran: bool = True

    def describe(self, name: str) -> str:
        if self.savepoint is not None:
            return f"{name}: stopped with a savepoint ({self.savepoint})"
        return f"{name}: cancelled, it could not take a savepoint ({self.cancelled_because})"


def stop_or_cancel(flink: FlinkSettings, job_id: str, savepoint_dir: str) -> StopResult:
    """Stop with a savepoint; a job that cannot take one (it never ran, or it is in a restart loop)
    is cancelled instead, and the result says why. Used where the job must end either way (`obm
    down`, a failed `obm up` tearing down)."""
    try:
        return StopResult(savepoint=stop_job(flink, job_id, savepoint_dir))
    except JobLifecycleError as exc:
        reason = str(exc).split(" failed: ", 1)[-1]
    details = FlinkRest.of(flink).get(f"/jobs/{job_id}")
    ever_ran = int(details.get("timestamps", {}).get(JobState.RUNNING, 0) or 0) > 0
    if details.get("state") not in TERMINAL_STATES:
        cancel_job(flink, job_id)
    return StopResult(savepoint=None, cancelled_because=reason, ever_ran=ever_ran)


def redeploy_job(
    job: str,
    *,
    flink: FlinkSettings,
    kafka: KafkaSettings,
    savepoint_dir: str,
    parallelism: int | None = None,
    metrics: MetricsJobSettings | None = None,
    alerts: AlertSettings | None = None,
    say: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
) -> tuple[str, str]:
    """Stop the running job with a savepoint and resubmit it from there, optionally with a new
    parallelism (rescaling: Flink shares the savepoint's key groups out over the new instances, up
    to FlinkSettings.max_parallelism) or new settings (thresholds); returns (new job id,
    savepoint). Without `parallelism` the job runs at the settings' parallelism for it. A job that
    cannot take a savepoint is left running and this raises: nothing is lost by trying again
    later."""
    running = find_active_job(flink, job)
    if running is None:
        raise JobLifecycleError(f"no running {job_display_name(job)} job on {flink.jobmanager}")
    savepoint = stop_job(flink, running.job_id, savepoint_dir)
    new_id = resume_job(
        job, savepoint=savepoint, say=say, flink=flink, kafka=kafka, parallelism=parallelism,
        metrics=metrics, alerts=alerts,
    )  # fmt: skip
    return new_id, savepoint
