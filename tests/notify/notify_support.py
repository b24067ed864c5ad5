"""Helpers of the notifier tests: a receiver on loopback (aiohttp, in the test's event loop) that
records every request and answers from a script, alerts valid per orderbook.alerts' schema, a clock
the test moves, and waiting on conditions."""

from __future__ import annotations

import asyncio
import copy
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
from aiohttp import web
from confluent_kafka import Producer

from config import KafkaSettings, PostgresSettings
from config.clients import producer_config
from schemas.registry import load_schema
from schemas.topics import Topic, record_key, topic_name

HOLD = "hold"  # a scripted answer: keep the request open until release() (then 503)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int | None = None  # what it was answered (None while held)
    at: float = field(default_factory=time.monotonic)  # when it arrived


class LoopbackReceiver:
    """An HTTP receiver on 127.0.0.1. Answers are taken from `script` in order; when it is empty,
    every request gets `default` (200)."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.script: deque[Any] = deque()
        self.default: Any = 200
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> LoopbackReceiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
        assert self._runner is not None
        await self._runner.cleanup()

    def release(self) -> None:
        self._release.set()

    async def _handle(self, request: web.Request) -> web.Response:
        req = Request(request.path, dict(request.headers), await request.json())
        self.requests.append(req)
        answer = self.script.popleft() if self.script else self.default
        if answer == HOLD:
            await self._release.wait()
            req.status = 503
            return web.Response(status=503, text="released")
        status, headers = (answer, {}) if isinstance(answer, int) else answer
        req.status = status
        return web.json_response({"ok": 200 <= status < 300}, status=status, headers=headers)

    def accepted(self) -> list[Request]:
        return [r for r in self.requests if r.status is not None and 200 <= r.status < 300]

    def accepted_alert_ids(self) -> list[str]:
        """Alert ids in the webhook messages answered 2xx (one entry per delivery)."""
        return [a["alert_id"] for r in self.accepted() for a in r.body["alerts"]]


class ManualClock:
    """The notifier's clock in tests that check timing (group window, repeat interval)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class NotifyTestEnv:
    kafka: KafkaSettings
    pg: PostgresSettings
    exchange: str  # unique per test
    _producer: Producer | None = field(default=None, repr=False)
    _serial: int = 0

    def alert(self, symbol: str = "BTCUSDT", alert_type: str = "imbalance_extreme",
              severity: str = "high", message: str | None = None) -> dict[str, Any]:  # fmt: skip
        """A new alert (its own id), dated now, from the schema's own example."""
        self._serial += 1
        now = int(time.time() * 1000)
        a = copy.deepcopy(load_schema(Topic.ALERTS)["examples"][0])
        a.update(
            alert_id=f"{alert_type}:{self.exchange}:{symbol}:{now}:{self._serial}",
            alert_type=alert_type, severity=severity, exchange=self.exchange, symbol=symbol,
            window_start=now - 1_000, window_end=now, event_time=now,
            message=message or f"{symbol} {alert_type} #{self._serial}",
        )  # fmt: skip
        return a

    def produce(self, *records: dict[str, Any] | bytes) -> None:
        if self._producer is None:
            self._producer = Producer(producer_config(self.kafka, {"linger.ms": 2}))
        for rec in records:
            key = (
                record_key(rec["exchange"], rec["symbol"]) if isinstance(rec, dict) else f"{self.exchange}:X"
            )
            value = rec if isinstance(rec, bytes) else orjson.dumps(rec)
            self._producer.produce(topic_name(Topic.ALERTS, self.kafka.topic_prefix), value=value, key=key)
        assert self._producer.flush(30) == 0

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.pg.conninfo(), autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def statuses(self, receivers: list[str]) -> dict[str, int]:
        """Status -> count of the stored (alert, receiver) rows of these receivers."""
        rows = self.rows("SELECT status, count(*) FROM alert_notifications WHERE receiver = ANY(%s)"
                         " GROUP BY status", receivers)  # fmt: skip
        return {s: n for s, n in rows}

    def attempts(self, receiver: str) -> list[tuple[Any, ...]]:
        """(alert_id, attempt, status, http_code, error) of a receiver, in order."""
        return self.rows("SELECT alert_id, attempt, status, http_code, error FROM alert_delivery_attempts"
                         " WHERE receiver = %s ORDER BY alert_id, attempt", receiver)  # fmt: skip


async def until(what: str, condition: Callable[[], bool | Awaitable[bool]], limit_s: float = 120.0) -> None:
    """Waits for a condition (checked every 50 ms); fails loudly naming it when it never holds."""
    deadline = time.monotonic() + limit_s
    while True:
        got = condition()
        if isinstance(got, Awaitable):
            got = await got
        if got:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)
