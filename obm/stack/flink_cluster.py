"""A real Flink session cluster (one JobManager with REST API and web UI, one TaskManager) from
the distribution inside the apache-flink wheel, so jobs are submitted to it exactly as they are
to the Compose stack's JobManager."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from config import FlinkSettings, StackSettings
from flink_jobs.flink_rest import FlinkRest
from obm.stack.health import wait_until
from obm.stack.process import ManagedProcess


def flink_home() -> Path:
    import pyflink

    return Path(pyflink.__file__).resolve().parent


@dataclass
class FlinkCluster:
    settings: FlinkSettings
    stack: StackSettings

    name = "flink"

    @property
    def detail(self) -> str:
        return f"http://{self.settings.jobmanager} (web UI)"

    @property
    def home(self) -> Path:
        return self.stack.state_dir / "flink"

    @property
    def conf_dir(self) -> Path:
        return self.home / "conf"

    def _env(self) -> dict[str, str]:
        java_home = os.environ.get("JAVA_HOME") or str(
            Path(os.path.realpath(shutil.which("java") or "")).parents[1]
        )
        return {
            "FLINK_CONF_DIR": str(self.conf_dir),
            "FLINK_LOG_DIR": str(self.home / "log"),
            "FLINK_PID_DIR": str(self.home / "run"),
            "JAVA_HOME": java_home,
        }

    def _write_conf(self) -> None:
        src = flink_home() / "conf"
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        for d in ("log", "run", "checkpoints", "savepoints"):
            (self.home / d).mkdir(parents=True, exist_ok=True)
        for f in src.iterdir():
            if f.name != "config.yaml" and f.is_file():
                shutil.copy(f, self.conf_dir / f.name)
        base = yaml.safe_load((src / "config.yaml").read_text())
        s = self.settings
        host, port = s.jobmanager.rsplit(":", 1)
        conf: dict[str, Any] = {
            "env": base.get("env", {}),
            "jobmanager": {
                "bind-host": host,
                "rpc": {"address": host, "port": s.rpc_port},
                "memory": {"process": {"size": s.jobmanager_memory}},
                "execution": {"failover-strategy": "region"},
            },
            "taskmanager": {
                "bind-host": host,
                "host": host,
                # Enough slots for every job at its parallelism (a job short of slots never runs).
                "numberOfTaskSlots": max(s.taskmanager_slots, s.slots_needed()),
                "memory": {"process": {"size": s.taskmanager_memory}},
            },
            # The TaskManager usually starts before the JobManager's resource manager answers; it
            # retries after `error-delay`, 10 s by default, which was a third of a cold start.
            "cluster": {"registration": {"error-delay": "500 ms"}},
            "parallelism": {"default": s.parallelism},
            "rest": {"address": host, "bind-address": host, "port": int(port)},
            "execution": {
                "checkpointing": {
                    "dir": (self.home / "checkpoints").as_uri(),
                    "savepoint-dir": (self.home / "savepoints").as_uri(),
                    "interval": f"{s.checkpoint_interval_ms} ms",
                }
            },
            # Python workers run in the project's own environment, where its packages are installed.
            "python": {"executable": sys.executable, "client": {"executable": sys.executable}},
        }
        (self.conf_dir / "config.yaml").write_text(yaml.safe_dump(conf, sort_keys=False))

    def processes(self) -> list[ManagedProcess]:
        bin_dir = flink_home() / "bin"
        return [
            ManagedProcess(
                name=f"flink-{role}",
                argv=["bash", str(bin_dir / f"{role}.sh"), "start-foreground"],
                run_dir=self.stack.state_dir,
                env=self._env(),
            )
            for role in ("jobmanager", "taskmanager")
        ]

    def overview(self) -> dict[str, Any]:
        result: dict[str, Any] = FlinkRest.of(self.settings, timeout_s=3.0).get("/overview")
        return result

    def healthy(self) -> bool:
        try:
            # A TaskManager counts once its slots are registered, not merely the TaskManager itself.
            overview = self.overview()
            return int(overview.get("taskmanagers", 0)) >= 1 and int(overview.get("slots-total", 0)) >= 1
        except OSError:
            return False

    def start(self) -> None:
        self._write_conf()
        jm, tm = self.processes()
        for proc in (jm, tm):
            if not proc.running():
                proc.start()
        wait_until(
            "flink",
            self.healthy,
            timeout_s=self.stack.start_timeout_s,
            alive=lambda: jm.running() and tm.running(),
            log_tail=lambda: jm.log_tail() + "\n" + tm.log_tail(),
            interval_s=0.5,
        )

    def stop(self) -> None:
        for proc in reversed(self.processes()):
            proc.stop(timeout_s=30)
