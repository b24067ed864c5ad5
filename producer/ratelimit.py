"""REST request-weight accounting and reconnect backoff for Binance.

Binance bans an IP that keeps calling after a 429 (first 418, then longer bans), so REST calls go
through one WeightLimiter per process: it keeps its own count of the weight used this minute,
corrects it from the server's `X-MBX-USED-WEIGHT-1M` header, waits for the next minute rather
than exceed a safety fraction of the limit, and stops all requests for `Retry-After` on a 429 and
much longer on a 418. A reconnect that needs 300 snapshots at once therefore spreads them over
minutes instead of tripping the limit.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable


def full_jitter(attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """AWS-style "full jitter": uniform in [0, min(cap, base * 2**attempt)], so many clients
    reconnecting after one outage spread out instead of stampeding together."""
    bound = min(cap_s, base_s * (2 ** min(attempt, 30)))
    return (rng or random).uniform(0.0, bound)


class WeightLimiter:
    # A 418 means we already ignored a 429: stay away at least this long, doubling per repeat.
    BAN_MIN_S = 120.0

    def __init__(
        self,
        limit_1m: int,
        safety: float = 0.8,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.limit_1m = limit_1m
        self.budget = max(1, int(limit_1m * safety))
        self._clock = clock
        self._sleep = sleep
        self._window = int(clock() // 60)
        self.used = 0
        self.blocked_until = 0.0
        self._bans = 0
        self._lock = asyncio.Lock()
        # Counters for /metrics.
        self.waits = 0
        self.rate_limited = 0  # 429s
        self.banned = 0  # 418s

    def _roll(self, now: float) -> None:
        window = int(now // 60)
        if window != self._window:
            self._window = window
            self.used = 0

    async def acquire(self, weight: int) -> None:
        """Wait until `weight` fits into this minute's budget and no ban is in force."""
        async with self._lock:
            while True:
                now = self._clock()
                if now < self.blocked_until:
                    self.waits += 1
                    await self._sleep(self.blocked_until - now)
                    continue
                self._roll(now)
                if self.used + weight <= self.budget or self.used == 0:
                    self.used += weight
                    return
                self.waits += 1
                await self._sleep((self._window + 1) * 60 - now + 0.05)

    def observe_used_weight(self, header_value: str | None) -> None:
        """The server's count is the truth (other processes on this IP use the same budget)."""
        if not header_value:
            return
        try:
            used = int(header_value)
        except ValueError:
            return
        self._roll(self._clock())
        self.used = max(self.used, used)

    def on_rate_limited(self, status: int, retry_after: str | None) -> float:
        """Record a 429/418 and return how long every request now waits."""
        try:
            wait = float(retry_after) if retry_after else 0.0
        except ValueError:
            wait = 0.0
        if status == 418:
            self.banned += 1
            self._bans += 1
            wait = max(wait, self.BAN_MIN_S * 2 ** (self._bans - 1))
        else:
            self.rate_limited += 1
            wait = max(wait, 1.0)
        self.blocked_until = max(self.blocked_until, self._clock() + wait)
        return wait
