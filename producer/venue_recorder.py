"""`obm record` for the venues subscribed by message (OKX, Bybit, Gate.io, Hyperliquid): writes a
venue capture (producer/venue_capture.py) that the simulator replays as that venue.

It reads the venue's listing first (as the producer does: it names the streams, e.g.
Hyperliquid's spot `@index` coins, and says the contract sizes), writes it, connects where the
producer would, sends the producer's own subscription messages and keep-alive, and writes every
text frame as received. For a venue whose book is not in the stream (Gate.io) it fetches a book's
REST snapshot after the book's first update and after any break in the recorded chain, as the
Binance recorder does (producer/recording.py, what both do alike), so the replay can serve a
snapshot that fits the frames around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlparse

import aiohttp
import orjson

from producer.exchanges import BadFrame, DepthEvent
from producer.recording import RecordOptions, StreamRecorder
from producer.rest import check_symbols
from producer.venue_capture import CaptureHeader, VenueCaptureWriter


class VenueRecorder(StreamRecorder[VenueCaptureWriter]):
    def __init__(self, options: RecordOptions) -> None:
        super().__init__(options)
        if self.spec.subscribe is None:
            raise ValueError(f"{self.spec.id} streams by URL: producer.recorder.Recorder records it")
        # The levels a REST snapshot asks for (Gate.io): the producer's own by default, so a
        # replay serves the book the producer would have fetched (RecordOptions.snapshot_limit
        # is Binance's 1000); deeper when the replay's producer asks for more
        # (ProducerOptions.snapshot_limit, e.g. a test that wants books without a depth window).
        self.snapshot_limit = self.spec.snapshot_limit

    def _open_writer(self) -> VenueCaptureWriter:
        return VenueCaptureWriter(self.options.output)

    async def _record(
        self,
        session: aiohttp.ClientSession,
        writer: VenueCaptureWriter,
        stop: asyncio.Event,
        deadline: float | None,
    ) -> None:
        listed_ns = time.time_ns()
        streams, listing = await self._listing(session)
        url = self.spec.stream_url(self.ws_url, streams)
        header = CaptureHeader(self.spec.id, self.spec.market, tuple(self.symbols), urlparse(url).path)
        writer.write_header(listed_ns, header)
        writer.write_rest(listed_ns, "listing", listing)
        async with session.ws_connect(url, heartbeat=20.0, max_msg_size=0) as ws:
            assert self.spec.subscribe is not None
            for text in self.spec.subscribe(streams):
                await ws.send_str(text)
            pinger = asyncio.create_task(self._keep_alive(ws))
            try:
                await self._receive(ws, stop, deadline, session, writer)
            finally:
                pinger.cancel()

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

    async def _keep_alive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        if self.spec.ping is None:
            return
        text, interval, _ = self.spec.ping
        while not ws.closed:
            await asyncio.sleep(interval)
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(text() if callable(text) else text)

    def _on_frame(
        self, raw: bytes, receive_ns: int, session: aiohttp.ClientSession, writer: VenueCaptureWriter
    ) -> None:
        if self.spec.snapshot_in_stream:
            return
        assert self.spec.parse_message is not None
        try:
            parsed = self.spec.parse_message(orjson.loads(raw), receive_ns)
        except (BadFrame, orjson.JSONDecodeError, TypeError, KeyError):
            return
        if parsed is None or not isinstance(parsed[1], DepthEvent):
            return
        event = parsed[1]
        self._follow_chain(event.symbol, event.first_id, event.final_id, None, session, writer)

    def _snapshot_params(self, symbol: str) -> dict[str, str]:
        return self.spec.snapshot_params(symbol, self.snapshot_limit)

    def _write_snapshot(self, writer: VenueCaptureWriter, receive_ns: int, body: bytes, symbol: str) -> None:
        writer.write_rest(receive_ns, "snapshot", body, symbol)
