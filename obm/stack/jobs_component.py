"""The Flink jobs as one component of the stack: `up` submits each job that is not running
(resuming from the savepoint taken by the last `down`, so rolling state survives a restart of the
stack), `down` stops each with a savepoint and remembers where it went."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from config import AlertSettings, FlinkSettings, KafkaSettings, MetricsJobSettings, StackSettings
from obm.stack.flink_cluster import rest_get


@dataclass
class FlinkJobs:
    flink: FlinkSettings
    kafka: KafkaSettings
    stack: StackSettings
    metrics: MetricsJobSettings
    alerts: AlertSettings
    name: str = "flink-jobs"

    @property
    def jobs(self) -> tuple[str, ...]:
        return tuple(self.flink.jobs)

    @property
    def savepoints_file(self) -> Path:
        return self.stack.state_dir / "flink" / "last-savepoints.json"

    @property
    def savepoint_dir(self) -> Path:
        return self.stack.state_dir / "flink" / "savepoints"

    def _savepoints(self) -> dict[str, str]:
        try:
            data: dict[str, str] = json.loads(self.savepoints_file.read_text())
            return data
        except (OSError, ValueError):
            return {}

    def running_jobs(self) -> dict[str, str]:
        """job name -> job id, for the jobs of this stack in state RUNNING (or about to be)."""
        from flink_jobs.lifecycle import list_jobs

        return {
            j.name: j.job_id
            for j in list_jobs(self.flink)
            if j.state in ("RUNNING", "CREATED", "INITIALIZING", "RESTARTING") and j.name in self.job_names()
        }

    def job_names(self) -> dict[str, str]:
        from flink_jobs.lifecycle import job_display_name

        return {job_display_name(j): j for j in self.jobs}

    def start(self) -> None:
        """Submit the jobs that are not running: the metrics job first and alone (the live values
        of the dashboard wait for it, and on two cores parallel planners slow each other down), then
        the jobs that read its output, side by side."""
        from concurrent.futures import ThreadPoolExecutor

        from flink_jobs.lifecycle import JobLifecycleError, job_display_name, submit_job

        running = self.running_jobs()
        savepoints = self._savepoints()

        def submit(job: str) -> str:
            savepoint = savepoints.get(job)
            if savepoint and not Path(savepoint.removeprefix("file:")).exists():
                savepoint = None
            try:
                return submit_job(
                    job, flink=self.flink, kafka=self.kafka, savepoint=savepoint, metrics=self.metrics,
                    alerts=self.alerts,
                )  # fmt: skip
            except JobLifecycleError as exc:
                if not (savepoint and exc.savepoint_incompatible):
                    raise
            # The savepoint is from an older version of the job whose operators changed: keep what
            # still maps (e.g. the Kafka source's offsets; otherwise the source resumes from its
            # consumer group's committed offsets) and start the rest of the state empty.
            print(
                f"flink-jobs: the savepoint of {job} does not fit the new job (its SQL changed); "
                f"resuming with what maps, the rest of its state starts empty ({savepoint})",
                file=sys.stderr,
                flush=True,
            )
            return submit_job(
                job, flink=self.flink, kafka=self.kafka, savepoint=savepoint, metrics=self.metrics,
                alerts=self.alerts, allow_non_restored_state=True,
            )  # fmt: skip

        todo = [job for job in self.jobs if job_display_name(job) not in running]
        if "metrics" in todo:
            submit("metrics")
            todo.remove("metrics")
        with ThreadPoolExecutor(max_workers=max(1, len(todo))) as pool:
            for future in [pool.submit(submit, job) for job in todo]:
                future.result()

    def healthy(self) -> bool:
        try:
            return len(self.running_jobs()) == len(self.jobs) and all(
                rest_get(self.flink, f"/jobs/{jid}")["state"] == "RUNNING"
                for jid in self.running_jobs().values()
            )
        except OSError:
            return False

    def stop(self) -> None:
        from flink_jobs.lifecycle import stop_job

        try:
            running = self.running_jobs()
        except OSError:
            return
        names = self.job_names()
        saved = self._savepoints()
        for display, job_id in running.items():
            saved[names[display]] = stop_job(self.flink, job_id, str(self.savepoint_dir))
        self.savepoints_file.parent.mkdir(parents=True, exist_ok=True)
        self.savepoints_file.write_text(json.dumps(saved, indent=2))

    def pids(self) -> list[int]:
        return []

    @property
    def detail(self) -> str:
        return ", ".join(self.jobs)
