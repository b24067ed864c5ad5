"""Cold and warm start of the embedded stack: how long `obm up` takes until the dashboard has live
values, the figure issue 2 sets (within a minute of the installs finishing).

Runs the real `obm up` (what `make run` starts, without --foreground) in a fresh state folder on free
ports, with the default simulator, and measures from the command's start:
- when each component reported ready (its "ready in ... (at T s)" progress line);
- when Redis holds, for every simulated symbol, a latest metrics record of a book update received
  after the command started: the live values the dashboard's overview and symbol view read;
- when `obm up` returned (every component healthy, jobs submitted).
Then `obm down` (jobs stopped with savepoints) and a second `obm up` on the same state: the warm start
a user gets the next day, resuming the jobs from their savepoints. The state folder is removed at the
end.

    .venv/bin/python -m bench.stack_startup [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import redis

from config import SimulatorSettings
from obm.stack.health import free_port
from schemas.redis_layout import RedisLayout

READY = re.compile(r"\] (\S+)\s+ready in\s+[\d.]+ s \(at\s+([\d.]+) s\)")


def stack_env(state_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "OBM_STATE_DIR": str(state_dir),
        "OBM_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "OBM_KAFKA_CONTROLLER_PORT": str(free_port()),
        "OBM_PG_PORT": str(free_port()),
        "OBM_REDIS_PORT": str(free_port()),
        "OBM_FLINK_JOBMANAGER": f"127.0.0.1:{free_port()}",
        "OBM_FLINK_RPC_PORT": str(free_port()),
        "OBM_SIM_PORT": str(free_port()),
        "OBM_PRODUCER_METRICS_PORT": str(free_port()),
        "OBM_SINK_POSTGRES_METRICS_PORT": str(free_port()),
        "OBM_SINK_REDIS_METRICS_PORT": str(free_port()),
        "OBM_DASHBOARD_PORT": str(free_port()),
        "OBM_GATEWAY_PORT": str(free_port()),
        "OBM_NOTIFY_PORT": str(free_port()),
    }


def time_up(env: dict[str, str], symbols: list[str]) -> dict[str, float]:
    """One `obm up`: seconds from its start to each milestone."""
    layout = RedisLayout()
    keys = [layout.latest("binance", s) for s in symbols]
    port = int(env["OBM_REDIS_PORT"])
    marks: dict[str, float] = {}
    t0 = time.monotonic()
    started_ns = time.time_ns()
    proc = subprocess.Popen(
        [sys.executable, "-m", "obm.cli", "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if m := READY.search(line):
                marks[m.group(1)] = float(m.group(2))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    while "live values" not in marks:
        if proc.poll() is not None and proc.returncode != 0:
            raise RuntimeError("obm up failed:\n" + "".join(lines[-30:]))
        try:
            values: list[bytes | None] = client.mget(keys)  # type: ignore[assignment]
            if all(v is not None and json.loads(v)["receive_time_ns"] > started_ns for v in values):
                marks["live values"] = time.monotonic() - t0
        except redis.RedisError:
            pass
        if time.monotonic() - t0 > 600:
            raise RuntimeError("no live values after 600 s:\n" + "".join(lines[-30:]))
        time.sleep(0.2)
    if proc.wait(timeout=600) != 0:
        raise RuntimeError("obm up failed:\n" + "".join(lines[-30:]))
    marks["obm up returned"] = time.monotonic() - t0
    reader.join(timeout=5)
    return marks


def obm_down(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "obm.cli", "down"], env=env, check=True, capture_output=True, timeout=600
    )


def show(title: str, marks: dict[str, float]) -> None:
    print(f"{title}:")
    for name, at in sorted(marks.items(), key=lambda kv: kv[1]):
        print(f"  {name:<16} {at:6.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    symbols = SimulatorSettings().symbols
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for run in range(1, args.runs + 1):
        state = Path(tempfile.mkdtemp(prefix="obm-bench-start-"))
        state.chmod(0o755)
        env = stack_env(state)
        try:
            cold = time_up(env, symbols)
            show(f"run {run}, cold start (fresh state folder)", cold)
            obm_down(env)
            warm = time_up(env, symbols)
            show(f"run {run}, warm start (same state, jobs resumed from savepoints)", warm)
        finally:
            try:
                obm_down(env)
            finally:
                shutil.rmtree(state, ignore_errors=True)
        print(f"load average after run {run}: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
