"""Replay of a venue capture (producer/venue_capture.py: OKX, Bybit, Gate.io, Hyperliquid): the
simulator becomes that venue as recorded, through the real WebSocket path.

An aiohttp middleware (installed by the server ahead of its routes) answers what the producer of
that venue asks: the capture's WebSocket path (each session gets every recorded frame in order,
from the start, once it has sent its first message, i.e. its subscriptions, paced at 1x, Nx or as
fast as the socket takes them), the listing path (the recorded listing, so names and contract
sizes are as recorded) and, for venues with REST snapshots (Gate.io), the depth path: the latest
recorded snapshot of the asked symbol at or before the furthest session's position (the first one
before any session reached one), as Binance's replay does. A snapshot newer than a client's
stream position is fine by the venue's procedure (the client drops older updates).

What it does not do: the frames are not filtered by subscription (one capture is one connection's
worth: the producer puts up to 100 books on a connection), subscription answers and pongs are the
recorded ones, client pings are not answered (the producer ignores pongs), and a resubscription
(a resync) gets no new snapshot: a capture replays what the venue sent, nothing more. Faults are
not injected into venue replays.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlparse

from aiohttp import WSMsgType, web

from producer.exchanges import resolve
from producer.simulator.replay import ReplayOptions, ReplaySource
from producer.venue_capture import VenueCapture, load_venue_capture, read_header


def open_replay(options: ReplayOptions) -> ReplaySource | VenueReplay:
    """The replay of a capture: a venue capture (its header line) as that venue, else Binance's."""
    if read_header(options.path) is not None:
        return VenueReplay(options)
    return ReplaySource(options)


class VenueReplay:
    def __init__(self, options: ReplayOptions, capture: VenueCapture | None = None) -> None:
        self.options = options
        self.capture = capture or load_venue_capture(options.path)
        header = self.capture.header
        self.spec = resolve(header.exchange, header.market)
        self.symbols = list(header.symbols)
        self.ws_path = header.ws_path
        self.listing_path = urlparse(self.spec.exchange_info_path).path
        self.depth_path = urlparse(self.spec.depth_path).path
        self._snapshots = {s: self.capture.snapshot_indices(s) for s in self.symbols}
        self.max_cursor = 0
        self.sent = 0
        self.sessions: set[web.WebSocketResponse] = set()
        self._stopping = False

    @web.middleware
    async def middleware(self, request: web.Request, handler):  # noqa: ANN001, ANN201 - aiohttp's
        path = request.path
        if path == self.ws_path and request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._ws(request)
        if path == self.depth_path and any(self._snapshots.values()):
            return self._snapshot(request)
        if path == self.listing_path and self.capture.listing is not None:
            return web.Response(body=self.capture.listing, content_type="application/json")
        return await handler(request)

    async def close(self) -> None:
        self._stopping = True
        for ws in list(self.sessions):
            await ws.close()

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=20.0, compress=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        self.sessions.add(ws)
        sender: asyncio.Task[None] | None = None
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and sender is None:  # its subscriptions: start
                    sender = asyncio.create_task(self._send(ws))
        finally:
            self.sessions.discard(ws)
            if sender is not None:
                sender.cancel()
        return ws

    async def _send(self, ws: web.WebSocketResponse) -> None:
        speed = self.options.speed
        lines = self.capture.lines
        t0 = time.monotonic()
        first_ns = next((line.receive_ns for line in lines if line.kind == "frame"), 0)
        for index, line in enumerate(lines):
            if ws.closed or self._stopping:
                return
            self.max_cursor = max(self.max_cursor, index)
            if line.kind != "frame":
                continue
            if speed > 0:
                delay = (line.receive_ns - first_ns) / 1e9 / speed - (time.monotonic() - t0)
                if delay > 0.002:
                    await asyncio.sleep(delay)
            elif index % 200 == 0:
                await asyncio.sleep(0)
            try:
                await ws.send_frame(line.raw, WSMsgType.TEXT)
            except (ConnectionError, RuntimeError):
                return
            self.sent += 1
        if self.options.close_at_end:
            await ws.close()

    def _snapshot(self, request: web.Request) -> web.Response:
        asked = set(request.query.values())
        symbol = next((s for s in self.symbols if s in asked), None)
        indices = self._snapshots.get(symbol or "") or []
        if not indices:
            body = b'{"label": "%s", "message": "not in the capture"}' % self.spec.unknown_symbol_error
            return web.Response(body=body, status=400, content_type="application/json")
        at_or_before = [i for i in indices if i <= self.max_cursor]
        chosen = at_or_before[-1] if at_or_before else indices[0]
        return web.Response(body=self.capture.lines[chosen].raw, content_type="application/json")
