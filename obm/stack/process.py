"""A supervised child process: started in its own session (so a Ctrl-C in the terminal reaches
only `obm`, which then stops children in order), output to a log file, pid recorded on disk so a
later `obm down` or `obm status` finds it again."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def user_ids(user: str | None) -> tuple[int | None, int | None, list[int] | None]:
    """(uid, gid, extra groups) for Popen that drop to `user` with its own primary group and no
    root groups; all None to stay who we are."""
    if user is None:
        return None, None, None
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid, []


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) counts as dead.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def signal_group(pid: int, sig: int) -> None:
    """Signal the process group led by pid (its children too), or the process alone."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_gone(pid: int, timeout_s: float) -> bool:
    """Wait (reaping our own children) until pid is gone; False if it is still there."""
    deadline = time.monotonic() + timeout_s
    while True:
        _reap(pid)
        if not pid_alive(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def stop_pid(pid: int, *, sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> bool:
    """Ask politely, wait, then SIGKILL the whole group. Returns True if it had to kill."""
    if not pid_alive(pid):
        return False
    signal_group(pid, sig)
    if wait_gone(pid, timeout_s):
        return False
    signal_group(pid, signal.SIGKILL)
    wait_gone(pid, 5.0)
    return True


@dataclass
class ManagedProcess:
    """One long-running child. `name` keys its pid file and log file under `run_dir`."""

    name: str
    argv: Sequence[str]
    run_dir: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    user: str | None = None  # drop to this user (PostgreSQL refuses to run as root)
    stop_signal: int = signal.SIGTERM

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "pids" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and pid_alive(pid)

    def start(self) -> int:
        if self.running():
            pid = self.pid()
            assert pid is not None
            return pid
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env}
        uid, gid, groups = user_ids(self.user)
        with open(self.log_file, "ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(self.argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                list(self.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
                user=uid,
                group=gid,
                extra_groups=groups,
            )
        self.pid_file.write_text(str(proc.pid))
        return proc.pid

    def stop(self, timeout_s: float = 20.0) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, sig=self.stop_signal, timeout_s=timeout_s)
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL without ceremony: for crash tests."""
        pid = self.pid()
        if pid is not None:
            signal_group(pid, signal.SIGKILL)
            wait_gone(pid, 5.0)
        self.pid_file.unlink(missing_ok=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
