"""The notifier: intake (orderbook.alerts -> PostgreSQL), dispatcher (due groups -> receivers) and
an HTTP endpoint with /healthz and /metrics, in one asyncio process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from config import KafkaSettings, PostgresSettings
from config.settings import NotifySettings
from notify.dispatch import Dispatcher
from notify.intake import Intake
from notify.metrics import NotifyMetrics
from notify.receivers import ReceiverClient
from notify.routing import Router
from notify.store import Store
from sinks.decoding.contract import SinkContract

log = logging.getLogger(__name__)


def wall_clock() -> datetime:
    return datetime.now(UTC)


class Notifier:
    def __init__(self, settings: NotifySettings, kafka: KafkaSettings, pg: PostgresSettings, *,
                 clock: Callable[[], datetime] = wall_clock, contract: SinkContract | None = None,
                 metrics: NotifyMetrics | None = None) -> None:  # fmt: skip
        self.settings = settings
        self.kafka = kafka
        self.clock = clock
        self.router = Router(settings)  # refuses a configuration naming unknown receivers
        self.metrics = metrics or NotifyMetrics()
        self.store = Store(pg)
        self.contract = contract
        self.intake: Intake | None = None
        self.dispatcher: Dispatcher | None = None
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def healthy(self) -> tuple[bool, str]:
        ended = [t for t in self._tasks if t.done()]
        if ended:
            return False, f"{ended[0].get_name()} stopped"
        if self.intake is None or not self.intake.assigned():
            return False, "not assigned to orderbook.alerts yet"
        try:
            await self.store.ping()
        except Exception as exc:  # noqa: BLE001
            return False, f"database: {exc}"
        return True, "ok"

    async def _healthz(self, _request: web.Request) -> web.Response:
        ok, detail = await self.healthy()
        body = {"status": detail, "receivers": [r.name for r in self.settings.receivers]}
        return web.json_response(body, status=200 if ok else 503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})  # fmt: skip

    async def _serve_http(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.settings.host, self.settings.port).start()

    @contextlib.asynccontextmanager
    async def running(self, *, dispatch_loop: bool = True, http: bool = True) -> AsyncIterator[Notifier]:
        """Intake (and the dispatcher's loop, and the HTTP endpoint) run while inside. Tests drive
        the dispatcher themselves (`dispatch_loop=False`, then `dispatcher.dispatch_due()`)."""
        self._session = aiohttp.ClientSession()
        clients = {
            r.name: ReceiverClient(r, self._session, self.settings.timeout_s) for r in self.settings.receivers
        }
        self.intake = Intake(
            self.settings, self.kafka, self.router, self.store, self.metrics, self.clock, self.contract
        )
        self.dispatcher = Dispatcher(self.settings, self.store, clients, self.metrics, self.clock)
        stop = asyncio.Event()
        self._tasks = tasks = [asyncio.create_task(self.intake.run(stop), name="intake")]
        if dispatch_loop:
            tasks.append(asyncio.create_task(self.dispatcher.run(stop), name="dispatch"))
        try:
            if http:
                await self._serve_http()
            yield self
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.dispatcher.finish_inflight()
            await self.intake.close()
            await self._session.close()
            if self._runner is not None:
                await self._runner.cleanup()
            await self.store.close()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`. A part that ends by itself (the intake on a fatal Kafka error, e.g. a
        fenced static member) ends the process with its error, for the supervisor to restart it."""
        async with self.running():
            log.info("notifier: receivers %s, reading %s as group %s, http on %s:%d",
                     [r.name for r in self.settings.receivers], self.intake.topic if self.intake else "",
                     self.settings.group, self.settings.host, self.settings.port)  # fmt: skip
            stopping = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait([stopping, *self._tasks], return_when=asyncio.FIRST_COMPLETED)
            if stopping not in done:
                stopping.cancel()
                ended = done.pop()
                raise RuntimeError(f"the notifier's {ended.get_name()} stopped") from ended.exception()
