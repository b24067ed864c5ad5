"""A circuit breaker per venue connection (and per venue REST client), so that a venue refusing
us is left alone for a while instead of being hammered, while the other connections carry on.

Closed: calls go through; a success resets the count of consecutive failures. After `threshold`
consecutive failures (connect errors, HTTP 5xx, the venue's bans: 418/429) the breaker opens: no
call for `base_open_s`, doubled at every opening in a row up to `max_open_s`. When that period is
over it half-opens and lets exactly one call through, the probe: its success closes the breaker
(and the next opening starts again from `base_open_s`), its failure opens it again for the next,
longer, period. Callers ask `before_call()` how long to wait; it never sleeps itself, so the rules
are pure and tested with a fake clock; `wait_turn()` is the asyncio loop around it.

The state is shown as `obm_producer_circuit_state` on the producer's /metrics and in `obm
status` (one line per breaker that is not closed).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerReport:
    """One breaker as `obm status` and /metrics show it."""

    name: str
    state: CircuitState
    since: float  # Unix time of the last change of state
    failures: int  # consecutive failures
    opens: int  # times it opened, in all
    last_failure: str | None

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": self.state.value,
            "since": self.since,
            "failures": self.failures,
            "opens": self.opens,
            "last_failure": self.last_failure,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> BreakerReport:
        failure = data.get("last_failure")
        return cls(
            name=str(data["name"]),
            state=CircuitState(str(data["state"])),
            since=float(data["since"]),  # type: ignore[arg-type]
            failures=int(data["failures"]),  # type: ignore[call-overload]
            opens=int(data["opens"]),  # type: ignore[call-overload]
            last_failure=None if failure is None else str(failure),
        )

    def describe(self, now: float) -> str:
        """One line: `circuit binance-0 open for 3 s (2 opens): connect failed: HTTP 503`."""
        reason = f": {self.last_failure}" if self.last_failure else ""
        seconds = max(0.0, now - self.since)
        return f"circuit {self.name} {self.state.value} for {seconds:.0f} s ({self.opens} opens){reason}"


def describe_failure(exc: BaseException) -> str:
    """A failed call in a few words: the venue's ban (418/429), its HTTP status, or the error."""
    status = getattr(exc, "status", None)
    if status in (418, 429):
        return f"banned: HTTP {status}"
    if isinstance(status, int) and status:
        return f"HTTP {status}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class CircuitBreaker:
    # How often a caller waiting behind a half-open breaker's probe asks again.
    PROBE_POLL_S = 0.05

    def __init__(
        self,
        name: str,
        threshold: int = 5,
        base_open_s: float = 1.0,
        max_open_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if threshold < 1 or base_open_s <= 0 or max_open_s < base_open_s:
            raise ValueError("need threshold >= 1 and 0 < base_open_s <= max_open_s")
        self.name = name
        self.threshold = threshold
        self.base_open_s = base_open_s
        self.max_open_s = max_open_s
        self._clock = clock
        self._wall_clock = wall_clock
        self.state = CircuitState.CLOSED
        self.since = wall_clock()
        self.failures = 0  # consecutive
        self.opens = 0
        self.probes = 0
        self.last_failure: str | None = None
        self._open_until = 0.0
        self._streak = 0  # openings in a row without a success: the next period is base * 2**streak
        self._probe_out = False

    def _enter(self, state: CircuitState) -> None:
        self.state = state
        self.since = self._wall_clock()

    def open_period(self) -> float:
        """How long the next opening lasts."""
        return min(self.max_open_s, self.base_open_s * 2 ** min(self._streak, 60))

    def before_call(self) -> float:
        """0.0 when a call may go now (in half-open: this call is the probe), else seconds to
        wait before asking again."""
        if self.state is CircuitState.CLOSED:
            return 0.0
        now = self._clock()
        if self.state is CircuitState.OPEN:
            if now < self._open_until:
                return self._open_until - now
            self._enter(CircuitState.HALF_OPEN)
            self._probe_out = False
        if self._probe_out:
            return self.PROBE_POLL_S  # one probe at a time: wait for its outcome
        self._probe_out = True
        self.probes += 1
        return 0.0

    def on_success(self) -> None:
        self.failures = 0
        self._streak = 0
        self._probe_out = False
        if self.state is not CircuitState.CLOSED:
            self._enter(CircuitState.CLOSED)

    def on_failure(self, reason: str) -> None:
        self.failures += 1
        self.last_failure = reason
        if self.state is CircuitState.HALF_OPEN or (
            self.state is CircuitState.CLOSED and self.failures >= self.threshold
        ):
            self._open()
        # OPEN: a call that started before it opened; it changes nothing

    def _open(self) -> None:
        self._open_until = self._clock() + self.open_period()
        self._streak += 1
        self.opens += 1
        self._probe_out = False
        self._enter(CircuitState.OPEN)

    async def wait_turn(self, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        """Until a call may go (see before_call)."""
        while (delay := self.before_call()) > 0:
            await sleep(delay)

    def report(self) -> BreakerReport:
        return BreakerReport(self.name, self.state, self.since, self.failures, self.opens, self.last_failure)
