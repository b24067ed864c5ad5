"""The project's own processes in the embedded stack (simulator, producer, sinks, dashboard): each a
Python module run from the project's environment with the resolved settings in its environment,
and a health probe on its HTTP port."""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from config import StackSettings
from config.settings import REPO_ROOT
from obm.stack.health import port_open, wait_until
from obm.stack.process import ManagedProcess


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return 200 <= resp.status < 300
    except OSError:
        return False


@dataclass
class PythonService:
    """`python -m <module> <args>` under supervision; healthy when `probe` says so."""

    name: str
    module_args: Sequence[str]
    stack: StackSettings
    env: dict[str, str]
    probe: Callable[[], bool]
    detail: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)

    def process(self) -> ManagedProcess:
        return ManagedProcess(
            name=self.name,
            argv=[sys.executable, "-u", "-m", *self.module_args],
            run_dir=self.stack.state_dir,
            env={**self.env, **self.extra_env, "PYTHONUNBUFFERED": "1"},
            cwd=REPO_ROOT,
        )

    def start(self) -> None:
        proc = self.process()
        if not proc.running():
            proc.start()
        wait_until(
            self.name,
            self.healthy,
            timeout_s=self.stack.start_timeout_s,
            alive=proc.running,
            log_tail=proc.log_tail,
            interval_s=0.3,
        )

    def healthy(self) -> bool:
        return self.process().running() and self.probe()

    def stop(self) -> None:
        self.process().stop(timeout_s=30)


def http_probe(url: str) -> Callable[[], bool]:
    return lambda: http_ok(url)


def port_probe(host: str, port: int) -> Callable[[], bool]:
    return lambda: port_open(host, port)
