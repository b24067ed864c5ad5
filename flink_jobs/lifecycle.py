"""Job lifecycle against a running Flink session cluster, embedded or remote: submit (through the
`flink` client shipped in the apache-flink wheel, as the Compose stack does), list, stop with a
savepoint and redeploy (through the JobManager's REST API). Only `host:port` of the JobManager
is needed, so the same calls work against any cluster."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from config import AlertSettings, FlinkSettings, KafkaSettings, MetricsJobSettings
from flink_jobs.pipelines import JOB_NAMES, JobSpec, job_display_name

__all__ = [
    "JOB_NAMES",
    "FlinkJob",
    "JobLifecycleError",
    "job_display_name",
    "list_jobs",
    "redeploy_job",
    "stop_job",
    "submit_job",
]

ENTRYPOINT = Path(__file__).resolve().parent / "entrypoint.py"
ACTIVE_STATES = ("CREATED", "INITIALIZING", "RUNNING", "RESTARTING")


class JobLifecycleError(RuntimeError):
    """A submission or a savepoint failed; the message carries Flink's own reason."""

    @property
    def savepoint_incompatible(self) -> bool:
        """The savepoint holds state of an operator the new program no longer has (the job's SQL
        changed between versions)."""
        return "Cannot map checkpoint/savepoint state" in str(self)


@dataclass(frozen=True)
class FlinkJob:
    job_id: str
    name: str
    state: str
    start_time_ms: int

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


def _rest(
    flink: FlinkSettings, path: str, body: dict[str, Any] | None = None, timeout_s: float = 10.0
) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://{flink.jobmanager}{path}",
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise JobLifecycleError(
            f"{req.method} {path}: HTTP {exc.code} {exc.read().decode(errors='replace')}"
        ) from exc


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
    """Submit one of the jobs (metrics, bars, alerts) detached; returns the Flink job id.

    `from_timestamp_ms` starts reading the input topic at that time (replay); `savepoint`
    resumes state and offsets from a savepoint (taking precedence over the timestamp).
    `allow_non_restored_state` restores what of the savepoint maps onto the new plan and skips the
    rest (Flink's --allowNonRestoredState): for a job whose SQL changed its operators."""
    if job not in JOB_NAMES:
        raise ValueError(f"unknown job {job!r}; known: {', '.join(JOB_NAMES)}")
    spec = JobSpec(
        job=job,
        flink=flink,
        kafka=kafka,
        metrics=metrics or MetricsJobSettings(),
        alerts=alerts or AlertSettings(),
        from_timestamp_ms=from_timestamp_ms,
        parallelism=parallelism,
    )
    argv = [str(flink_client()), "run", "-d", "-m", flink.jobmanager]
    if savepoint:
        argv += ["-s", savepoint]
        if allow_non_restored_state:
            argv += ["--allowNonRestoredState"]
    if parallelism:
        argv += ["-p", str(parallelism)]
    argv += ["-py", str(ENTRYPOINT), "-pyexec", sys.executable, "-pyclientexec", sys.executable]
    argv += ["--spec", spec.to_json()]
    proc = subprocess.run(argv, env=_client_env(flink), capture_output=True, text=True, timeout=timeout_s)
    out = proc.stdout + proc.stderr
    match = re.search(r"JobID ([0-9a-f]{32})", out) or re.search(r"obm job id: ([0-9a-f]{32})", out)
    if proc.returncode != 0 or not match:
        raise JobLifecycleError(f"flink run {job} failed (exit {proc.returncode}):\n{out[-4000:]}")
    return match.group(1)


def list_jobs(flink: FlinkSettings) -> list[FlinkJob]:
    """Every job the cluster knows (running and finished), newest first."""
    overview = _rest(flink, "/jobs/overview")
    jobs = [
        FlinkJob(job_id=j["jid"], name=j["name"], state=j["state"], start_time_ms=int(j.get("start-time", 0)))
        for j in overview.get("jobs", [])
    ]
    return sorted(jobs, key=lambda j: j.start_time_ms, reverse=True)


def find_active_job(flink: FlinkSettings, job: str) -> FlinkJob | None:
    name = job_display_name(job)
    return next((j for j in list_jobs(flink) if j.name == name and j.active), None)


def stop_job(flink: FlinkSettings, job_id: str, savepoint_dir: str, timeout_s: float = 120.0) -> str:
    """Stop a job with a savepoint into `savepoint_dir`; returns the savepoint's location."""
    target = savepoint_dir if "://" in savepoint_dir else Path(savepoint_dir).resolve().as_uri()
    trigger = _rest(flink, f"/jobs/{job_id}/stop", {"targetDirectory": target, "drain": False})
    request_id = trigger["request-id"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = _rest(flink, f"/jobs/{job_id}/savepoints/{request_id}")
        if status.get("status", {}).get("id") == "COMPLETED":
            operation = status.get("operation", {})
            if "location" in operation:
                return str(operation["location"])
            raise JobLifecycleError(
                f"stop with savepoint of {job_id} failed: {operation.get('failure-cause')}"
            )
        time.sleep(0.5)
    raise JobLifecycleError(f"stop with savepoint of {job_id} did not finish within {timeout_s:.0f} s")


def redeploy_job(
    job: str,
    *,
    flink: FlinkSettings,
    kafka: KafkaSettings,
    savepoint_dir: str,
    parallelism: int | None = None,
    metrics: MetricsJobSettings | None = None,
    alerts: AlertSettings | None = None,
) -> tuple[str, str]:
    """Stop the running job with a savepoint and resubmit it from there, optionally with a new
    parallelism or new settings (thresholds); returns (new job id, savepoint)."""
    running = find_active_job(flink, job)
    if running is None:
        raise JobLifecycleError(f"no running {job_display_name(job)} job on {flink.jobmanager}")
    savepoint = stop_job(flink, running.job_id, savepoint_dir)
    args: dict[str, Any] = {
        "flink": flink, "kafka": kafka, "savepoint": savepoint, "parallelism": parallelism,
        "metrics": metrics, "alerts": alerts,
    }  # fmt: skip
    try:
        new_id = submit_job(job, **args)
    except JobLifecycleError as exc:
        if not exc.savepoint_incompatible:
            raise
        # New code whose operators changed: restore what maps, start the rest empty (the job is
        # stopped already, so failing here would leave it down).
        print(
            f"{job}: the savepoint does not fit the new job (its SQL changed); resubmitting with "
            f"--allowNonRestoredState ({savepoint})",
            file=sys.stderr,
            flush=True,
        )
        new_id = submit_job(job, allow_non_restored_state=True, **args)
    return new_id, savepoint
