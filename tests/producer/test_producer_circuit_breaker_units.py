"""Unit tests of the circuit breaker's rules (pure logic, a fake clock): opens after N consecutive
failures, for a period that doubles up to the cap, half-opens with exactly one probe, a probe's
success closes it and starts the periods over, a probe's failure opens it for longer."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from producer.circuit_breaker import BreakerReport, CircuitBreaker, CircuitState, describe_failure

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(threshold: int = 3, base: float = 2.0, cap: float = 10.0) -> tuple[CircuitBreaker, Clock]:
    clock = Clock()
    return CircuitBreaker("venue-0", threshold, base, cap, clock=clock, wall_clock=clock), clock


def test_opens_after_n_consecutive_failures_only() -> None:
    breaker, _ = make()
    breaker.on_failure("HTTP 503")
    breaker.on_failure("HTTP 503")
    breaker.on_success()  # not consecutive any more
    breaker.on_failure("HTTP 503")
    breaker.on_failure("HTTP 503")
    assert breaker.state is CircuitState.CLOSED and breaker.before_call() == 0.0
    breaker.on_failure("banned: HTTP 429")
    assert breaker.state is CircuitState.OPEN and breaker.opens == 1
    assert breaker.before_call() == 2.0 and breaker.last_failure == "banned: HTTP 429"


def test_half_open_lets_exactly_one_probe_through_and_its_success_closes() -> None:
    breaker, clock = make()
    for _ in range(3):
        breaker.on_failure("x")
    clock.now += 1.5
    assert breaker.before_call() == pytest.approx(0.5)
    clock.now += 0.5
    assert breaker.before_call() == 0.0  # the probe
    assert breaker.state is CircuitState.HALF_OPEN and breaker.probes == 1
    assert breaker.before_call() == CircuitBreaker.PROBE_POLL_S  # a second caller waits
    clock.now += 100
    assert breaker.before_call() == CircuitBreaker.PROBE_POLL_S  # still: one probe at a time
    breaker.on_success()
    assert breaker.state is CircuitState.CLOSED and breaker.failures == 0 and breaker.before_call() == 0.0
    assert breaker.open_period() == 2.0  # the next opening starts over from the base


def test_a_failed_probe_opens_again_for_a_growing_period_up_to_the_cap() -> None:
    breaker, clock = make()
    for _ in range(3):
        breaker.on_failure("x")
    periods = []
    for _ in range(5):
        periods.append(breaker.before_call())
        clock.now += periods[-1]
        assert breaker.before_call() == 0.0 and breaker.state is CircuitState.HALF_OPEN
        breaker.on_failure("probe failed")  # one failure is enough in half-open
        assert breaker.state is CircuitState.OPEN
    assert periods == [2.0, 4.0, 8.0, 10.0, 10.0]
    assert breaker.opens == 6 and breaker.probes == 5


def test_a_failure_while_open_changes_nothing() -> None:
    breaker, _ = make()
    for _ in range(3):
        breaker.on_failure("x")
    breaker.on_failure("a call started before it opened")
    assert breaker.opens == 1 and breaker.before_call() == 2.0


def test_wait_turn_sleeps_until_the_probe() -> None:
    breaker, clock = make()
    for _ in range(3):
        breaker.on_failure("x")
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    asyncio.run(breaker.wait_turn(sleep))
    assert slept == [2.0] and breaker.state is CircuitState.HALF_OPEN


def test_report_round_trips_and_describes() -> None:
    breaker, clock = make()
    for _ in range(3):
        breaker.on_failure("connect failed: HTTP 503")
    report = breaker.report()
    assert BreakerReport.from_json(report.as_json()) == report
    clock.now += 12
    assert report.describe(clock.now) == "circuit venue-0 open for 12 s (1 opens): connect failed: HTTP 503"


def test_failures_are_described_as_the_venue_signals_them() -> None:
    def status_error(status: int) -> aiohttp.ClientResponseError:
        return aiohttp.ClientResponseError(None, (), status=status)  # type: ignore[arg-type]

    assert describe_failure(status_error(429)) == "banned: HTTP 429"
    assert describe_failure(status_error(418)) == "banned: HTTP 418"
    assert describe_failure(status_error(503)) == "HTTP 503"
    assert (
        describe_failure(ConnectionRefusedError(111, "refused"))
        == "ConnectionRefusedError: [Errno 111] refused"
    )
    assert describe_failure(TimeoutError()) == "TimeoutError"


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker("x", threshold=0)
    with pytest.raises(ValueError):
        CircuitBreaker("x", base_open_s=5, max_open_s=1)
