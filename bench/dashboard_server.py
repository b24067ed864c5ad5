"""Runs the dashboard as `streamlit run dashboard/app.py` in a child process on a free port,
pointed at given PostgreSQL and Redis, and drives headless Chromium against it. Shared by the
browser test and the page-load benchmark, so both measure the app exactly as users get it.

Chromium is Debian's (/usr/bin/chromium), never a downloaded one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from config import PostgresSettings, RedisSettings
from obm.stack.health import free_port, wait_until

REPO_ROOT = Path(__file__).resolve().parent.parent
APP = REPO_ROOT / "dashboard" / "app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def dashboard_env(pg: PostgresSettings, redis: RedisSettings, refresh_s: float) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "OBM_PG_HOST": pg.host,
            "OBM_PG_PORT": str(pg.port),
            "OBM_PG_USER": pg.user,
            "OBM_PG_PASSWORD": pg.password.get_secret_value(),
            "OBM_PG_DATABASE": pg.database,
            "OBM_REDIS_HOST": redis.host,
            "OBM_REDIS_PORT": str(redis.port),
            "OBM_REDIS_KEY_PREFIX": redis.key_prefix,
            "OBM_DASHBOARD_REFRESH_S": str(refresh_s),
            "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
        }
    )
    return env


@contextmanager
def running_dashboard(
    pg: PostgresSettings,
    redis: RedisSettings,
    log_path: Path,
    refresh_s: float = 1.0,
    app: Path = APP,
    source_root: Path | None = None,
) -> Iterator[str]:
    """Yields the base URL of a running dashboard (or of another Streamlit `app`, for the benches'
    baselines); stops it (and only it) afterwards. `source_root`: run the packages of another
    source tree (an older commit's, for before/after comparisons) instead of this one's."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.fileWatcherType", "none", "--client.toolbarMode", "viewer",
    ]  # fmt: skip
    env = dashboard_env(pg, redis, refresh_s)
    if source_root is not None:
        env["PYTHONPATH"] = str(source_root)
        cmd[4] = str(source_root / app.relative_to(REPO_ROOT))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=source_root or REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            base = f"http://127.0.0.1:{port}"

            def healthy() -> bool:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                    return bool(response.status == 200)

            wait_until(
                "dashboard", healthy, timeout_s=60, alive=lambda: proc.poll() is None,
                log_tail=lambda: log_path.read_text(errors="replace")[-2000:],
            )  # fmt: skip
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
