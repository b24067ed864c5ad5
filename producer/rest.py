"""REST calls of the producer: depth snapshots (through the weight limiter; the feed retries a
failed one with backoff) and the exchangeInfo check that turns a misspelt symbol into a clear
error at start-up."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AbstractAsyncContextManager

import aiohttp
import orjson

from producer.circuit_breaker import CircuitBreaker, describe_failure
from producer.exchanges import BadFrame, BookSnapshot, ExchangeSpec
from producer.exchanges.spec import Instrument
from producer.ratelimit import WeightLimiter

log = logging.getLogger(__name__)


class UnknownSymbol(ValueError):
    """A configured symbol the exchange does not list (or does not trade): permanent."""


class RestError(RuntimeError):
    """An answer of the venue's REST API that is not the data asked for (status, body)."""


# What a snapshot request can fail with short of UnknownSymbol: worth retrying later.
SNAPSHOT_ERRORS = (TimeoutError, aiohttp.ClientError, OSError, orjson.JSONDecodeError, BadFrame, RestError)
# Of those, the ones where the venue did answer (its status was judged already).
ANSWERED = (orjson.JSONDecodeError, BadFrame, RestError)


class SnapshotClient:
    def __init__(
        self,
        spec: ExchangeSpec,
        session: aiohttp.ClientSession,
        rest_url: str,
        limiter: WeightLimiter,
        limit: int | None = None,
        max_in_flight: int = 4,
    ) -> None:
        self.spec = spec
        self.session = session
        self.rest_url = rest_url.rstrip("/")
        self.limiter = limiter
        self.limit = limit or spec.snapshot_limit
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self.requests = 0
        self.failures = 0
        self.statuses: dict[int, int] = {}
        # Set by the service: requests wait while it is open (producer/circuit_breaker.py).
        self.breaker: CircuitBreaker | None = None

    async def fetch(self, symbol: str) -> BookSnapshot:
        """GET the depth snapshot, waiting out rate limits (on 429/418 every request waits).
        Any other failure raises (UnknownSymbol, or one of SNAPSHOT_ERRORS): the book's sync task
        is then restarted with backoff by the feed, which shows the failure as the book's state."""
        url = f"{self.rest_url}{self.spec.depth_path}"
        params = self.spec.snapshot_params(symbol, self.limit)
        weight = self.spec.snapshot_weight(self.limit)
        while True:
            if self.breaker is not None:
                await self.breaker.wait_turn()
            await self.limiter.acquire(weight)
            async with self._in_flight:
                self.requests += 1
                try:
                    async with self.session.get(url, params=params) as resp:
                        self.statuses[resp.status] = self.statuses.get(resp.status, 0) + 1
                        self.limiter.observe_used_weight(resp.headers.get("X-MBX-USED-WEIGHT-1M"))
                        body = await resp.read()
                        self._judge(resp.status)
                        if resp.status in (418, 429):
                            wait = self.limiter.on_rate_limited(resp.status, resp.headers.get("Retry-After"))
                            log.warning(
                                "snapshot %s: HTTP %s, all REST calls wait %.1fs", symbol, resp.status, wait
                            )
                            continue
                        if resp.status == 400 and self.spec.unknown_symbol_error in body:
                            raise UnknownSymbol(
                                f"{self.spec.id} ({self.spec.market}) does not know symbol {symbol}"
                            )
                        if resp.status != 200:
                            raise RestError(
                                f"snapshot {symbol}: HTTP {resp.status}: {body[:200].decode(errors='replace')}"
                            )
                        data = orjson.loads(body)
                        if type(data) is not dict:
                            raise BadFrame(f"snapshot {symbol}: not a JSON object")
                        snap = self.spec.parse_snapshot(data)
                except SNAPSHOT_ERRORS as exc:
                    self.failures += 1
                    if self.breaker is not None and not isinstance(exc, ANSWERED):
                        self.breaker.on_failure(describe_failure(exc))  # no answer at all
                    raise
            snap.symbol = symbol
            snap.receive_time_ns = time.time_ns()
            snap.depth_limit = self.limit
            return snap

    def _judge(self, status: int) -> None:
        """An answer for the breaker: a ban (418/429) or a 5xx is a failure, any other a success
        (a 400 is the venue answering about our request, not the venue failing)."""
        if self.breaker is None:
            return
        if status in (418, 429):
            self.breaker.on_failure(f"banned: HTTP {status}")
        elif status >= 500:
            self.breaker.on_failure(f"HTTP {status}")
        else:
            self.breaker.on_success()


def listing_request(
    spec: ExchangeSpec, session: aiohttp.ClientSession, rest_url: str
) -> AbstractAsyncContextManager[aiohttp.ClientResponse]:
    """The venue's listing request, to use with `async with`: a GET of its exchangeInfo path, or a
    POST of its JSON body where it has one (Hyperliquid's `/info` {"type": "meta"})."""
    url = f"{rest_url.rstrip('/')}{spec.exchange_info_path}"
    body = spec.exchange_info_body
    if body is None:
        return session.get(url)
    return session.post(url, data=body, headers={"Content-Type": "application/json"})


async def check_symbols(
    spec: ExchangeSpec, session: aiohttp.ClientSession, rest_url: str, symbols: list[str]
) -> dict[str, Instrument]:
    """Every configured symbol must be listed in the venue's exchangeInfo and trading: raise
    UnknownSymbol naming the others and the venue, RestError when the venue cannot be asked.
    Returns their instruments (`spec.parse_instruments`: contract sizes, normalized names)."""
    url = f"{rest_url.rstrip('/')}{spec.exchange_info_path}"
    venue = f"{spec.id} ({spec.market})"
    try:
        async with listing_request(spec, session, rest_url) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RestError(
                    f"cannot check the symbols: GET {url}: HTTP {resp.status}: {body[:200].decode(errors='replace')}"
                )
        listed = spec.parse_instruments(orjson.loads(body))
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise RestError(f"cannot check the symbols: GET {url}: {exc or type(exc).__name__}") from exc
    except (orjson.JSONDecodeError, KeyError, TypeError, BadFrame) as exc:
        raise RestError(f"cannot check the symbols: GET {url}: not an exchangeInfo answer ({exc})") from exc
    unknown = [s for s in symbols if s not in listed]
    if unknown:
        raise UnknownSymbol(f"{venue} does not list symbol(s) {', '.join(unknown)}")
    halted = [f"{s} ({listed[s].status})" for s in symbols if not listed[s].trading]
    if halted:
        raise UnknownSymbol(f"{venue}: symbol(s) not trading: {', '.join(halted)}")
    return {s: listed[s] for s in symbols}
