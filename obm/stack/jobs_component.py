"""The Flink jobs as one component of the stack: `up` submits each job that is not running
(resuming from the savepoint taken by the last `down`, so rolling state survives a restart of the
stack), `down` stops each with a savepoint and remembers where it went (a job that cannot take one
is cancelled, and says so), and `obm status` gets one line per job (flink_jobs.job_health)."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from config import AlertSettings, FlinkSettings, KafkaSettings, MetricsJobSettings, StackSettings
from flink_jobs.flink_rest import ACTIVE_STATES, FlinkRest
from flink_jobs.job_health import JobHealth, ProgressHistory, check_job
from flink_jobs.registry import job_definition


@dataclass
class FlinkJobs:
    flink: FlinkSettings
    kafka: KafkaSettings
    stack: StackSettings
    metrics: MetricsJobSettings
    alerts: AlertSettings
    name: str = "flink-jobs"
    # What the last stop did, one line per job (printed by `obm down`).
    stop_notes: list[str] = field(default_factory=list)

    @property
    def jobs(self) -> tuple[str, ...]:
        return tuple(self.flink.jobs)

    @property
    def savepoints_file(self) -> Path:
        return self.stack.state_dir / "flink" / "last-savepoints.json"

    @property
    def savepoint_dir(self) -> Path:
        return self.stack.state_dir / "flink" / "savepoints"

    @property
    def progress_file(self) -> Path:
        return self.stack.state_dir / "flink" / "job-progress.json"

    def _savepoints(self) -> dict[str, str]:
        try:
            data: dict[str, str] = json.loads(self.savepoints_file.read_text())
            return data
        except (OSError, ValueError):
            return {}

    def running_jobs(self) -> dict[str, str]:
        """job name -> Flink job id, for the jobs of this stack that run (or are about to)."""
        names = {job_definition(j).display_name: j for j in self.jobs}
        return {
            names[j["name"]]: j["jid"]
            for j in FlinkRest.of(self.flink, timeout_s=5.0).jobs_overview()
            if j["state"] in ACTIVE_STATES and j["name"] in names
        }

    def start(self) -> None:
        """Submit the jobs that are not running: the metrics job first and alone (the live values
        of the dashboard wait for it, and on two cores parallel planners slow each other down), then
        the others side by side, at most one per CPU core: each submission is a client JVM and a
        Python planner, and five of them at once on a loaded 2-core machine (the default jobs since
        trade_bars, pairs and rules joined them) ran past the 180 s a submission may take."""
        from concurrent.futures import ThreadPoolExecutor

        from flink_jobs.lifecycle import resume_job

        running = self.running_jobs()
        savepoints = self._savepoints()

        def submit(job: str) -> str:
            savepoint = savepoints.get(job)
            if savepoint and not Path(savepoint.removeprefix("file:")).exists():
                savepoint = None
            return resume_job(
                job, savepoint=savepoint, say=lambda line: print(f"flink-jobs: {line}", file=sys.stderr, flush=True),
                flink=self.flink, kafka=self.kafka, metrics=self.metrics, alerts=self.alerts,
            )  # fmt: skip

        todo = [job for job in self.jobs if job not in running]
        if "metrics" in todo:
            submit("metrics")
            todo.remove("metrics")
        with ThreadPoolExecutor(max_workers=max(1, min(len(todo), os.cpu_count() or 1))) as pool:
            for future in [pool.submit(submit, job) for job in todo]:
                future.result()

    def health(self) -> list[JobHealth]:
        """One JobHealth per job of the stack; records this check's progress for the next one."""
        rest = FlinkRest.of(self.flink, timeout_s=5.0)
        overview = rest.jobs_overview()
        history = ProgressHistory(self.progress_file)
        now_ms = time.time_ns() // 1_000_000
        found, samples = [], {}
        for job in self.jobs:
            definition = job_definition(job)
            health, progress = check_job(
                rest, definition.display_name, overview, definition.progress, history,
                self.flink.stall_after_s, now_ms,
            )  # fmt: skip
            found.append(health)
            if progress is not None and health.job_id is not None:
                samples[health.job_id] = progress
        history.record(samples)
        return found

    def status_report(self) -> tuple[bool, list[str]]:
        """(healthy, one line per job) for `obm status`."""
        try:
            found = self.health()
        except OSError as exc:
            return False, [f"no Flink JobManager answers at {self.flink.jobmanager}: {exc}"]
        return all(h.healthy for h in found), [h.line() for h in found]

    def healthy(self) -> bool:
        try:
            return all(h.healthy for h in self.health())
        except OSError:
            return False

    def stop(self) -> None:
        """Stop every job with a savepoint, remembered for the next `up`. A job that cannot take
        one is cancelled: if it never ran, the savepoint it was started from stays the one to
        resume from; if it ran, that savepoint is stale and the next start resumes from the
        consumer group's committed offsets instead."""
        from flink_jobs.lifecycle import stop_or_cancel

        self.stop_notes = []
        try:
            running = self.running_jobs()
        except OSError:
            return
        saved = self._savepoints()
        for job, job_id in running.items():
            result = stop_or_cancel(self.flink, job_id, str(self.savepoint_dir))
            self.stop_notes.append(result.describe(job_definition(job).display_name))
            if result.savepoint is not None:
                saved[job] = result.savepoint
            elif result.ever_ran:
                saved.pop(job, None)
        self.savepoints_file.parent.mkdir(parents=True, exist_ok=True)
        self.savepoints_file.write_text(json.dumps(saved, indent=2))

    def pids(self) -> list[int]:
        return []

    @property
    def detail(self) -> str:
        return ", ".join(self.jobs)
