"""The simulator's server: Binance spot's WebSocket and REST on one aiohttp port.

WebSocket: `/ws/<stream>[/<stream>...]` (raw payloads), `/stream?streams=a/b` (combined frames
`{"stream": ..., "data": ...}`), and SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS messages on either.
REST: `/api/v3/depth`, `/api/v3/exchangeInfo`, `/api/v3/ping`, `/api/v3/time`, with the
`X-MBX-USED-WEIGHT-1M` header; and USD-M's `/fapi/v1/exchangeInfo` (the same symbols as
perpetuals), so a USD-M producer's start-up check can be tried here (the streams stay spot's);
COIN-M's `/dapi/v1/exchangeInfo` (contract sizes) and `/dapi/v1/depth` (served like spot's, which
is how a replay of a COIN-M capture feeds a COIN-M producer). OKX's `/ws/v5/public` and
`/api/v5/public/instruments` for symbols named like OKX instruments (okx.py); Bybit v5's
`/v5/public/{spot,linear,inverse}` and `/v5/market/instruments-info` (bybit.py); Gate.io v4's
`/ws/v4/`, `/v4/ws/usdt` and spot/futures `order_book`, `currency_pairs`, `contracts` (gateio.py); Hyperliquid's
requests on `/ws` and POST `/info` (hyperliquid.py). Control: `POST /sim/faults` injects faults (see faults.py),
`GET /sim/stats` reports what was sent.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from config import SimulatorSettings
from producer.exchanges.binance_spot import snapshot_weight
from producer.simulator.bybit import BybitVenue
from producer.simulator.exchange_info import coinm_exchange_info, spot_exchange_info, usdm_exchange_info
from producer.simulator.faults import FAULT_KINDS, Faults
from producer.simulator.gateio import GateVenue
from producer.simulator.hyperliquid import HyperliquidVenue
from producer.simulator.model_source import ModelSource
from producer.simulator.okx import OkxVenue
from producer.simulator.replay import ReplayOptions, ReplaySource
from producer.simulator.venue_replay import VenueReplay, open_replay

log = logging.getLogger(__name__)


class Session:
    """One WebSocket client and the streams it is subscribed to."""

    def __init__(self, ws: web.WebSocketResponse, combined: bool, streams: set[str], faults: Faults) -> None:
        self.ws = ws
        self.combined = combined
        self.streams = streams
        self._faults = faults
        self.sent = 0
        self.started = asyncio.Event()
        if streams:
            self.started.set()

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def send_raw(self, payload: bytes) -> None:
        if self.ws.closed:
            return
        try:
            await self.ws.send_frame(payload, WSMsgType.TEXT)
            self.sent += 1
        except (ConnectionError, RuntimeError):
            pass  # the client went away; its handler cleans up

    async def send(self, stream: str, data: bytes) -> None:
        if self.combined:
            await self.send_raw(b'{"stream":"%s","data":%s}' % (stream.encode(), data))
        else:
            await self.send_raw(data)

    async def wait_unstalled(self) -> None:
        delay = self._faults.stalled_for()
        if delay > 0:
            await asyncio.sleep(delay)

    async def close(self) -> None:
        await self.ws.close()


class Simulator:
    def __init__(
        self,
        settings: SimulatorSettings,
        replay: ReplayOptions | None = None,
        tls: tuple[str, str] | None = None,
    ) -> None:
        """`tls` = (certificate file, key file) serves wss:// and https:// (clients that accept only
        TLS addresses, like cryptofeed, can then be pointed at the simulator)."""
        self.settings = settings
        self._ssl: ssl.SSLContext | None = None
        if tls is not None:
            self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._ssl.load_cert_chain(*tls)
        self.faults = Faults()
        self.sessions: set[Session] = set()
        opened = open_replay(replay) if replay else None
        self.replay = opened if isinstance(opened, ReplaySource) else None
        # A venue capture (OKX, Bybit, Gate.io, Hyperliquid) answers as that venue (venue_replay.py).
        self.venue_replay = opened if isinstance(opened, VenueReplay) else None
        self.model = (
            None
            if replay
            else ModelSource(
                self, [s.upper() for s in settings.symbols], settings.seed, settings.updates_per_second
            )
        )
        self.symbols = opened.symbols if opened else [s.upper() for s in settings.symbols]
        modelled = [] if self.venue_replay else self.symbols  # the venues below: none in a venue replay
        # OKX's protocol for the symbols named like OKX instruments (producer/simulator/okx.py)
        self.okx = OkxVenue(modelled, settings.seed, settings.updates_per_second)
        # Bybit's protocol for the symbols named like Bybit's (producer/simulator/bybit.py)
        self.bybit = BybitVenue(modelled, settings.seed, settings.updates_per_second)
        # Gate.io's for pairs named BASE_QUOTE (producer/simulator/gateio.py)
        self.gateio = GateVenue(modelled, settings.seed, settings.updates_per_second)
        # Hyperliquid's for bare coins (perps) and BASE-USDC pairs (producer/simulator/hyperliquid.py)
        self.hyperliquid = HyperliquidVenue(modelled, settings.seed, settings.updates_per_second)
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = False
        self._weight_window = 0
        self._weight_used = 0
        self.depth_requests = 0

    @property
    def ws_url(self) -> str:
        return f"{'wss' if self._ssl else 'ws'}://{self.settings.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"{'https' if self._ssl else 'http'}://{self.settings.host}:{self.port}"

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.venue_replay.middleware] if self.venue_replay else [])
        self.gateio.add_routes(app)  # first: its /ws/v4/ would match Binance's /ws/{streams}
        app.router.add_get("/stream", self._ws_combined)
        app.router.add_get("/ws", self._ws_raw)
        app.router.add_get("/ws/{streams:.*}", self._ws_raw)
        app.router.add_get("/api/v3/depth", self._depth)
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info)
        app.router.add_get("/fapi/v1/exchangeInfo", self._futures_exchange_info)
        app.router.add_get("/dapi/v1/depth", self._depth)  # COIN-M: the same book, from a replay
        app.router.add_get("/dapi/v1/exchangeInfo", self._coinm_exchange_info)
        app.router.add_get("/api/v3/ping", self._ping)
        app.router.add_get("/api/v3/time", self._time)
        self.okx.add_routes(app)
        self.bybit.add_routes(app)
        self.hyperliquid.add_routes(app)
        app.router.add_post("/sim/faults", self._inject)
        app.router.add_get("/sim/stats", self._stats)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.host, self.settings.port, ssl_context=self._ssl)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if self.model is not None:
            self._tasks.append(asyncio.create_task(self.model.run(lambda: self._stopping)))
        if self.okx.books:
            self._tasks.append(asyncio.create_task(self.okx.run(lambda: self._stopping)))
        if self.bybit.books:
            self._tasks.append(asyncio.create_task(self.bybit.run(lambda: self._stopping)))
        if self.gateio.books:
            self._tasks.append(asyncio.create_task(self.gateio.run(lambda: self._stopping)))
        if self.hyperliquid.books:
            self._tasks.append(asyncio.create_task(self.hyperliquid.run(lambda: self._stopping)))
        log.info(
            "simulator on %s (%s) for %s",
            self.ws_url,
            "replay" if self.replay or self.venue_replay else "model",
            ",".join(self.symbols),
        )

    async def stop(self) -> None:
        self._stopping = True
        for session in list(self.sessions):
            await session.close()
        await self.okx.close()
        await self.bybit.close()
        await self.gateio.close()
        await self.hyperliquid.close()
        if self.venue_replay is not None:
            await self.venue_replay.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    # -- faults --------------------------------------------------------------------------------

    async def inject(
        self, kind: str, symbol: str | None = None, count: int = 1, seconds: float = 1.0, status: int = 429
    ) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        explicit = symbol.upper() if symbol else None
        symbol = explicit or self.symbols[0]
        if kind == "drop":
            self.faults.add_drop(symbol, count)
        elif kind in (
            "bad_json",
            "missing_field",
            "nan_size",
            "negative_size",
            "unknown_stream",
            "not_an_object",
        ):
            self.faults.add_malformed(symbol, kind, count)
        elif kind == "http_error":
            self.faults.add_http_errors(status, count, seconds, explicit)
        elif kind == "ws_reject":
            self.faults.add_ws_rejects(status, count)
        elif kind == "delist":
            self.faults.delisted.add(symbol)
        elif kind == "clear":
            self.faults.clear()
        elif kind == "stall":
            self.faults.stall(seconds)
        elif kind == "disconnect":
            for session in self._diff_sessions(explicit):
                await session.close()
        elif kind == "server_shutdown":
            msg = orjson.dumps({"e": "serverShutdown", "E": time.time_ns() // 10**6})
            for session in self._diff_sessions(explicit):
                await session.send_raw(msg)

    def _diff_sessions(self, symbol: str | None) -> list[Session]:
        """Sessions a disconnect hits: all, or those carrying `symbol`'s diff-depth stream."""
        if symbol is None:
            return list(self.sessions)
        low = symbol.lower()
        return [s for s in self.sessions if f"{low}@depth@100ms" in s.streams or f"{low}@depth" in s.streams]

    async def _inject(self, request: web.Request) -> web.Response:
        body = await request.json()
        try:
            await self.inject(
                body["kind"],
                body.get("symbol"),
                int(body.get("count", 1)),
                float(body.get("seconds", 1.0)),
                int(body.get("status", 429)),
            )
        except (KeyError, ValueError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"ok": True})

    async def _stats(self, _: web.Request) -> web.Response:
        return web.json_response(
            {
                "sessions": len(self.sessions),
                "depth_requests": self.depth_requests,
                "dropped": self.faults.dropped,
                "malformed_sent": self.faults.malformed_sent,
                "withheld": self.faults.withheld,
                "frames_sent": sum(s.sent for s in self.sessions),
                "update_ids": self.model.update_ids() if self.model else {},
            }
        )

    # -- WebSocket -----------------------------------------------------------------------------

    async def _ws_combined(self, request: web.Request) -> web.StreamResponse:
        streams = {s for s in request.query.get("streams", "").split("/") if s}
        return await self._serve_ws(request, True, streams)

    async def _ws_raw(self, request: web.Request) -> web.StreamResponse:
        streams = {s for s in request.match_info.get("streams", "").split("/") if s}
        return await self._serve_ws(request, False, streams)

    async def _serve_ws(self, request: web.Request, combined: bool, streams: set[str]) -> web.StreamResponse:
        rejected = self.faults.take_ws_reject()
        if rejected is not None:
            return web.json_response({"error": "handshake refused (injected)"}, status=rejected)
        ws = web.WebSocketResponse(heartbeat=20.0, compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        session = Session(ws, combined, streams, self.faults)
        self.sessions.add(session)
        if self.model is not None:
            self.model.subscribe(session)
        replay_task = None
        if self.replay is not None:
            replay_task = asyncio.create_task(self._replay_when_subscribed(session))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                if self.hyperliquid.speaks(msg.data):  # Hyperliquid's clients use /ws too
                    await self.hyperliquid.on_message(ws, msg.data)
                else:
                    await self._on_client_message(session, msg.data)
        finally:
            self.sessions.discard(session)
            self.hyperliquid.forget(ws)
            if self.model is not None:
                self.model.unsubscribe(session)
            if replay_task is not None:
                replay_task.cancel()
        return ws

    async def _replay_when_subscribed(self, session: Session) -> None:
        assert self.replay is not None
        await session.started.wait()
        await self.replay.serve(session, self.faults, lambda: self._stopping)

    async def _on_client_message(self, session: Session, text: str) -> None:
        try:
            req = orjson.loads(text)
            method, params, req_id = req["method"], req.get("params") or [], req.get("id")
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await session.send_raw(orjson.dumps({"error": {"code": 2, "msg": "Invalid request"}}))
            return
        if method == "SUBSCRIBE":
            session.streams.update(params)
            if self.model is not None:
                self.model.subscribe(session)
            session.started.set()
            await session.send_raw(orjson.dumps({"result": None, "id": req_id}))
        elif method == "UNSUBSCRIBE":
            session.streams.difference_update(params)
            if self.model is not None:
                self.model.subscribe(session)
            await session.send_raw(orjson.dumps({"result": None, "id": req_id}))
        elif method == "LIST_SUBSCRIPTIONS":
            await session.send_raw(orjson.dumps({"result": sorted(session.streams), "id": req_id}))
        else:
            await session.send_raw(
                orjson.dumps({"error": {"code": 1, "msg": f"unknown method {method}"}, "id": req_id})
            )

    # -- REST ----------------------------------------------------------------------------------

    def _use_weight(self, weight: int) -> int:
        window = int(time.time() // 60)
        if window != self._weight_window:
            self._weight_window, self._weight_used = window, 0
        self._weight_used += weight
        return self._weight_used

    async def _ping(self, _: web.Request) -> web.Response:
        return web.json_response({})

    async def _time(self, _: web.Request) -> web.Response:
        return web.json_response({"serverTime": time.time_ns() // 10**6})

    async def _depth(self, request: web.Request) -> web.Response:
        self.depth_requests += 1
        symbol = request.query.get("symbol", "").upper()
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            return web.json_response(
                {"code": -1100, "msg": "Illegal characters found in parameter 'limit'."}, status=400
            )
        used = self._use_weight(snapshot_weight(limit))
        headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
        error = self.faults.take_http_error(symbol)
        if error is not None:
            status, retry_after = error
            headers["Retry-After"] = str(retry_after)
            return web.json_response(
                {"code": -1003, "msg": "Too many requests (injected)."}, status=status, headers=headers
            )
        if symbol not in self.listed:
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400, headers=headers)
        if self.model is not None:
            body = orjson.dumps(self.model.snapshot(symbol, limit))
        else:
            assert self.replay is not None
            body = self.replay.snapshot(symbol, limit)
        return web.Response(body=body, content_type="application/json", headers=headers)

    @property
    def listed(self) -> list[str]:
        """The symbols the REST API knows (all but the delisted ones)."""
        return [s for s in self.symbols if s not in self.faults.delisted]

    async def _exchange_info(self, request: web.Request) -> web.Response:
        wanted = self.listed
        if "symbols" in request.query:
            wanted = [s.upper() for s in orjson.loads(request.query["symbols"])]
        elif "symbol" in request.query:
            wanted = [request.query["symbol"].upper()]
        if any(s not in self.listed for s in wanted):
            return web.json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        return web.json_response(spot_exchange_info(wanted))

    async def _futures_exchange_info(self, _: web.Request) -> web.Response:
        return web.json_response(usdm_exchange_info(self.listed))

    async def _coinm_exchange_info(self, _: web.Request) -> web.Response:
        return web.json_response(coinm_exchange_info(self.listed))
