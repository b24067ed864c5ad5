"""REST calls of the producer: depth snapshots (through the weight limiter, retried with backoff)
and the exchangeInfo check that turns a misspelt symbol into a clear error at start-up."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import orjson

from producer.exchanges import BadFrame, BookSnapshot, ExchangeSpec
from producer.ratelimit import WeightLimiter, full_jitter

log = logging.getLogger(__name__)


class UnknownSymbol(ValueError):
    """A configured symbol the exchange does not list (or does not trade)."""


class SnapshotClient:
    def __init__(
        self,
        spec: ExchangeSpec,
        session: aiohttp.ClientSession,
        rest_url: str,
        limiter: WeightLimiter,
        limit: int | None = None,
        max_in_flight: int = 4,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
    ) -> None:
        self.spec = spec
        self.session = session
        self.rest_url = rest_url.rstrip("/")
        self.limiter = limiter
        self.limit = limit or spec.snapshot_limit
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.requests = 0
        self.failures = 0
        self.statuses: dict[int, int] = {}

    async def fetch(self, symbol: str) -> BookSnapshot:
        """GET the depth snapshot, retrying until it succeeds (or the task is cancelled)."""
        url = f"{self.rest_url}{self.spec.depth_path}"
        params = {"symbol": symbol, "limit": str(self.limit)}
        weight = self.spec.snapshot_weight(self.limit)
        attempt = 0
        while True:
            await self.limiter.acquire(weight)
            try:
                async with self._in_flight:
                    self.requests += 1
                    async with self.session.get(url, params=params) as resp:
                        self.statuses[resp.status] = self.statuses.get(resp.status, 0) + 1
                        self.limiter.observe_used_weight(resp.headers.get("X-MBX-USED-WEIGHT-1M"))
                        body = await resp.read()
                        if resp.status in (418, 429):
                            wait = self.limiter.on_rate_limited(resp.status, resp.headers.get("Retry-After"))
                            log.warning(
                                "snapshot %s: HTTP %s, all REST calls wait %.1fs", symbol, resp.status, wait
                            )
                            continue
                        if resp.status == 400 and b"-1121" in body:
                            raise UnknownSymbol(f"{self.spec.id} does not know symbol {symbol!r}")
                        if resp.status != 200:
                            raise aiohttp.ClientResponseError(
                                resp.request_info, (), status=resp.status, message=body[:200].decode()
                            )
                        snap = self.spec.parse_snapshot(orjson.loads(body))
                        snap.symbol = symbol
                        snap.receive_time_ns = time.time_ns()
                        return snap
            except (TimeoutError, aiohttp.ClientError, OSError, orjson.JSONDecodeError, BadFrame) as exc:
                self.failures += 1
                delay = full_jitter(attempt, self.backoff_base_s, self.backoff_cap_s)
                attempt += 1
                log.warning("snapshot %s failed (%s), retry in %.2fs", symbol, exc, delay)
                await asyncio.sleep(delay)


async def check_symbols(
    spec: ExchangeSpec, session: aiohttp.ClientSession, rest_url: str, symbols: list[str]
) -> dict[str, dict[str, Any]]:
    """Every configured symbol must be listed and TRADING; raise UnknownSymbol naming the bad ones."""
    url = f"{rest_url.rstrip('/')}{spec.exchange_info_path}"
    async with session.get(url) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{url}: HTTP {resp.status}: {body[:200]!r}")
    listed = {s["symbol"]: s for s in orjson.loads(body).get("symbols", [])}
    unknown = [s for s in symbols if s not in listed]
    if unknown:
        raise UnknownSymbol(f"{spec.id} ({spec.market}) does not list symbol(s) {', '.join(unknown)}")
    halted = [s for s in symbols if listed[s].get("status") not in (None, "TRADING")]
    if halted:
        raise UnknownSymbol(f"{spec.id}: symbol(s) not trading: {', '.join(halted)}")
    return {s: listed[s] for s in symbols}
