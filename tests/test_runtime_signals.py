"""run_until_signalled and stop_on_signals on real signals: a child process runs a service that
waits on the stop event, gets SIGTERM or SIGINT (from its parent, or from itself), and ends by the
code after the wait with the service's result and exit code 0, instead of being killed (SIGTERM's
default) or interrupted (SIGINT's KeyboardInterrupt)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parent.parent

# SENDER "parent": the test sends the signal once the child is ready. "self": the child signals
# itself, and once more while it stops: the second signal must not kill it either.
CHILD = """
import asyncio, os, signal, sys
from obm.runtime.signals import run_until_signalled

async def service(stop: asyncio.Event) -> str:
    print("ready", flush=True)
    if sys.argv[1] == "self":
        os.kill(os.getpid(), int(sys.argv[2]))
    await stop.wait()
    if sys.argv[1] == "self":
        os.kill(os.getpid(), int(sys.argv[2]))
        await asyncio.sleep(0)
    return "stopped"

print(run_until_signalled(service), flush=True)
"""

# The same wait on an event for SIGUSR1 only.
CHILD_USR1 = """
import asyncio, signal
from obm.runtime.signals import stop_on_signals

async def main() -> None:
    stop = stop_on_signals((signal.SIGUSR1,))
    print("ready", flush=True)
    await stop.wait()
    print("stopped", flush=True)

asyncio.run(main())
"""


def _child(sender: str, sig: signal.Signals) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, sender, str(int(sig))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env=env,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("sender", ["parent", "self"])
def test_a_stop_signal_sets_the_event_and_the_process_ends_cleanly(sender: str, sig: signal.Signals) -> None:
    child = _child(sender, sig)
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        if sender == "parent":
            os.kill(child.pid, sig)
        # A bound on a hang, not a measurement: the child stops within milliseconds. (Not
        # communicate(): it would miss what readline already buffered.)
        child.wait(timeout=120)
        out, err = child.stdout.read(), child.stderr.read() if child.stderr else ""
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert (child.returncode, out) == (0, "stopped\n"), err


@pytest.mark.parametrize(
    ("sig", "ending"),
    [(signal.SIGUSR1, (0, "stopped\n")), (signal.SIGTERM, (-signal.SIGTERM, ""))],
    ids=["SIGUSR1-asked-for", "SIGTERM-not-asked-for"],
)
def test_only_the_signals_asked_for_are_taken_over(sig: signal.Signals, ending: tuple[int, str]) -> None:
    """A process that stops on SIGUSR1 stops cleanly on it; SIGTERM keeps its default action and
    terminates it."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD_USR1], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT, env=env
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
        os.kill(child.pid, sig)
        child.wait(timeout=120)
        out = child.stdout.read()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert (child.returncode, out) == ending
