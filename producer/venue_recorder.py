"""`obm record` for the venues subscribed by message (OKX, Bybit, Gate.io, Hyperliquid): writes a
venue capture (producer/venue_capture.py) that the simulator replays as that venue.

It reads the venue's listing first (as the producer does: it names the streams, e.g.
Hyperliquid's spot `@index` coins, and says the contract sizes), writes it, connects where the
producer would, sends the producer's own subscription messages and keep-alive, and writes every
text frame as received. For a venue whose book is not in the stream (Gate.io) it fetches a book's
REST snapshot after the book's first update and after any break in the recorded chain, as the
Binance recorder does, so the replay can serve a snapshot that fits the frames around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from urllib.parse import urlparse

import aiohttp
import orjson

from producer.exchanges import BadFrame, DepthEvent, ExchangeSpec, resolve
from producer.rest import check_symbols
from producer.venue_capture import CaptureHeader, VenueCaptureWriter

log = logging.getLogger(__name__)


class VenueRecorder:
    def __init__(self, options) -> None:  # noqa: ANN001 - producer.recorder.RecordOptions
        self.options = options
        self.spec: ExchangeSpec = resolve(options.exchange, options.market)
        if self.spec.subscribe is None:
            raise ValueError(f"{self.spec.id} streams by URL: producer.recorder.Recorder records it")
        self.symbols = [s.upper() for s in options.symbols]
        self.ws_url = options.ws_url or self.spec.ws_url
        self.rest_url = (options.rest_url or self.spec.rest_url).rstrip("/")
        self.frames = 0
        self.snapshots = 0
        self._last_u: dict[str, int] = {}
        self._pending: set[str] = set()

    async def run(self, stop: asyncio.Event) -> int:
        writer = VenueCaptureWriter(self.options.output)
        deadline = time.monotonic() + self.options.duration_s if self.options.duration_s else None
        tasks: set[asyncio.Task[None]] = set()
        try:
            async with aiohttp.ClientSession() as session:
                listed_ns = time.time_ns()
                streams, listing = await self._listing(session)
                url = self.spec.stream_url(self.ws_url, streams)
                header = CaptureHeader(
                    self.spec.id, self.spec.market, tuple(self.symbols), urlparse(url).path
                )
                writer.write_header(listed_ns, header)
                writer.write_rest(listed_ns, "listing", listing)
                async with session.ws_connect(url, heartbeat=20.0, max_msg_size=0) as ws:
                    assert self.spec.subscribe is not None
                    for text in self.spec.subscribe(streams):
                        await ws.send_str(text)
                    pinger = asyncio.create_task(self._keep_alive(ws))
                    try:
                        await self._receive(ws, stop, deadline, session, writer, tasks)
                    finally:
                        pinger.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            writer.close()
        log.info(
            "recorded %d frames and %d snapshots to %s", self.frames, self.snapshots, self.options.output
        )
        return self.frames

    async def _listing(self, session: aiohttp.ClientSession) -> tuple[list[str], bytes]:
        """The symbols' streams by the venue's names, and the listing's body as answered (the
        producer's own check first: unknown or halted symbols stop the recording with its reason)."""
        instruments = await check_symbols(self.spec, session, self.rest_url, self.symbols)
        url = f"{self.rest_url}{self.spec.exchange_info_path}"
        body_json = self.spec.exchange_info_body
        ask = session.get(url) if body_json is None else session.post(url, data=body_json)
        async with ask as resp:
            body = await resp.read()
        return [self.spec.diff_channel(instruments[s].venue_name or s) for s in self.symbols], body

    async def _receive(self, ws, stop, deadline, session, writer, tasks) -> None:  # noqa: ANN001
        while not stop.is_set():
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                return
            try:
                msg = await asyncio.wait_for(ws.receive(), timeout=min(timeout or 1.0, 1.0))
            except TimeoutError:
                continue
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                return
            now = time.time_ns()
            raw = msg.data.encode() if isinstance(msg.data, str) else msg.data
            writer.write(now, raw)
            self.frames += 1
            if not self.spec.snapshot_in_stream:
                self._check_chain(raw, now, session, writer, tasks)
            if self.options.max_frames and self.frames >= self.options.max_frames:
                return

    async def _keep_alive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        if self.spec.ping is None:
            return
        text, interval, _ = self.spec.ping
        while not ws.closed:
            await asyncio.sleep(interval)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(text() if callable(text) else text)

    def _check_chain(self, raw: bytes, now: int, session, writer, tasks) -> None:  # noqa: ANN001
        assert self.spec.parse_message is not None
        try:
            parsed = self.spec.parse_message(orjson.loads(raw), now)
        except (BadFrame, orjson.JSONDecodeError, TypeError, KeyError):
            return
        if parsed is None or not isinstance(parsed[1], DepthEvent):
            return
        event = parsed[1]
        last = self._last_u.get(event.symbol)
        self._last_u[event.symbol] = event.final_id
        if (last is None or event.first_id != last + 1) and event.symbol not in self._pending:
            self._pending.add(event.symbol)
            task = asyncio.get_running_loop().create_task(self._snapshot(event.symbol, session, writer))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def _snapshot(
        self, symbol: str, session: aiohttp.ClientSession, writer: VenueCaptureWriter
    ) -> None:
        url = f"{self.rest_url}{self.spec.depth_path}"
        try:
            async with session.get(
                url, params=self.spec.snapshot_params(symbol, self.spec.snapshot_limit)
            ) as resp:
                body = await resp.read()
                if resp.status != 200:
                    log.warning("snapshot %s: HTTP %s", symbol, resp.status)
                    return
            writer.write_rest(time.time_ns(), "snapshot", body, symbol)
            self.snapshots += 1
        finally:
            self._pending.discard(symbol)
