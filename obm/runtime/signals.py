"""A clean stop on SIGTERM (a supervisor, Compose, Kubernetes) and SIGINT (Ctrl-C).

The asyncio services stop by an event their loops watch, so that a signal ends them the way any
other stop does: connections closed, buffers flushed, offsets committed. The handler only sets the
event; a second signal while stopping changes nothing (the stop already under way finishes).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)

T = TypeVar("T")


def stop_on_signals(signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> asyncio.Event:
    """An event set when the process receives one of `signals`; call it inside the running loop
    (the handlers belong to that loop and go when it closes, e.g. at the end of `asyncio.run`)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    return stop


def run_until_signalled(service: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """A process's main: `service(stop)` on a new event loop, `stop` set by SIGTERM or SIGINT;
    returns what the service returns once it has stopped."""

    async def main() -> T:
        return await service(stop_on_signals())

    return asyncio.run(main())
