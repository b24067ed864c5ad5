"""Small readiness probes shared by the components: wait for a condition with a deadline and a
clear error that includes the component's log tail."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable


class StartupFailed(RuntimeError):
    pass


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    what: str,
    check: Callable[[], bool],
    *,
    timeout_s: float,
    alive: Callable[[], bool] | None = None,
    log_tail: Callable[[], str] | None = None,
    interval_s: float = 0.2,
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - a probe that raises simply means "not yet"
            pass
        if alive is not None and not alive():
            tail = log_tail() if log_tail else ""
            raise StartupFailed(f"{what}: process exited during start-up\n{tail}")
        if time.monotonic() > deadline:
            tail = log_tail() if log_tail else ""
            raise StartupFailed(f"{what}: not ready after {timeout_s:.0f} s\n{tail}")
        time.sleep(interval_s)
