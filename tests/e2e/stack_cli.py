"""Runs the real `obm` command against a state folder and free ports of the test's own, so the e2e
tests exercise exactly what a user's `obm up` / `obm status` / `obm down` do."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from config import KafkaSettings, PostgresSettings, RedisSettings
from obm.stack.health import free_port
from obm.stack.process import pid_alive

OBM = [sys.executable, "-m", "obm.cli"]


def free_port_run(count: int, stride: int) -> int:
    """A port p such that p, p + stride, ... (count ports) are all free now: the producers of a
    stack with several venues serve /metrics on ProducerSettings.metrics_port + stride * i."""
    for _ in range(200):
        base = free_port()
        if base + stride * (count - 1) < 65536 and all(port_free(base + stride * i) for i in range(1, count)):
            return base
    raise RuntimeError(f"no run of {count} free ports {stride} apart")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class StackUnderTest:
    state_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="obm-e2e-")))
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state_dir.chmod(0o755)
        kafka_port = free_port()
        self.env = {
            **os.environ,
            "OBM_STATE_DIR": str(self.state_dir),
            "OBM_START_TIMEOUT_S": "240",
            "OBM_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}",
            "OBM_KAFKA_CONTROLLER_PORT": str(free_port()),
            "OBM_PG_PORT": str(free_port()),
            "OBM_REDIS_PORT": str(free_port()),
            "OBM_FLINK_JOBMANAGER": f"127.0.0.1:{free_port()}",
            "OBM_FLINK_RPC_PORT": str(free_port()),
            "OBM_FLINK_CHECKPOINT_INTERVAL_MS": "2000",
            "OBM_SIM_PORT": str(free_port()),
            "OBM_SIM_SEED": "20241121",
            "OBM_SIM_UPDATES_PER_SECOND": "20",
            "OBM_PRODUCER_METRICS_PORT": str(free_port()),
            "OBM_SINK_POSTGRES_METRICS_PORT": str(free_port()),
            "OBM_SINK_REDIS_METRICS_PORT": str(free_port()),
            "OBM_DASHBOARD_PORT": str(free_port()),
            "OBM_GATEWAY_PORT": str(free_port()),
            "OBM_NOTIFY_PORT": str(free_port()),
        }

    def obm(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*OBM, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def cleanup(self) -> None:
        """Remove the state folder unless OBM_KEEP_TEST_STATE=1 (to read the logs of a failure)."""
        if os.environ.get("OBM_KEEP_TEST_STATE") != "1":
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def pids(self) -> dict[str, int]:
        out = {}
        for f in (self.state_dir / "pids").glob("*.pid"):
            try:
                out[f.stem] = int(f.read_text())
            except (OSError, ValueError):
                pass
        return out

    def alive(self, pids: dict[str, int]) -> dict[str, int]:
        return {n: p for n, p in pids.items() if pid_alive(p)}

    def log(self, name: str, lines: int = 40) -> str:
        path = self.state_dir / "logs" / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    @property
    def kafka(self) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=self.env["OBM_KAFKA_BOOTSTRAP_SERVERS"])

    @property
    def postgres(self) -> PostgresSettings:
        return PostgresSettings(port=int(self.env["OBM_PG_PORT"]))

    @property
    def redis(self) -> RedisSettings:
        return RedisSettings(port=int(self.env["OBM_REDIS_PORT"]))

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.env['OBM_DASHBOARD_PORT']}"
