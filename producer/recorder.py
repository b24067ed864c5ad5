"""`obm record`: write raw frames with their receive times in the capture format, from Binance
or from the simulator, so a capture made anywhere replays here (the venues subscribed by message:
producer/venue_recorder.py, chosen by `open_recorder`; what both do alike: producer/recording.py).

It subscribes to the diff-depth stream (plus bookTicker and trades, which make the capture
self-checking: a bookTicker's `u` pins the best levels at that update id) and, once the first
depth event of a symbol is in, fetches that symbol's REST snapshot and writes it as a line, as
in the capture in shared/data. A broken chain in the recording (U != previous u + 1) gets a fresh
snapshot line, so the replay can resync there.
"""

from __future__ import annotations

import asyncio

import aiohttp
import orjson

from producer.capture import CaptureWriter
from producer.exchanges import resolve
from producer.recording import RecordOptions, StreamRecorder
from producer.venue_recorder import VenueRecorder

__all__ = ["RecordOptions", "Recorder", "open_recorder"]


class Recorder(StreamRecorder[CaptureWriter]):
    def streams(self) -> list[str]:
        out = []
        for symbol in self.symbols:
            low = symbol.lower()
            for channel in self.options.channels:
                out.append(self.spec.diff_channel(symbol) if channel == "depth" else f"{low}@{channel}")
        return out

    def _open_writer(self) -> CaptureWriter:
        return CaptureWriter(self.options.output)

    async def _record(
        self,
        session: aiohttp.ClientSession,
        writer: CaptureWriter,
        stop: asyncio.Event,
        deadline: float | None,
    ) -> None:
        url = self.spec.stream_url(self.ws_url, self.streams())
        async with session.ws_connect(url, heartbeat=20.0, max_msg_size=0) as ws:
            await self._receive(ws, stop, deadline, session, writer)

    def _on_frame(
        self, raw: bytes, receive_ns: int, session: aiohttp.ClientSession, writer: CaptureWriter
    ) -> None:
        try:
            data = orjson.loads(raw).get("data") or {}
        except (orjson.JSONDecodeError, AttributeError):
            return
        if data.get("e") != "depthUpdate":
            return
        symbol, first, final = data.get("s"), data.get("U"), data.get("u")
        if not isinstance(symbol, str) or not isinstance(first, int) or not isinstance(final, int):
            return
        # Futures diffs say the previous update's final id (`pu`) instead of continuing U = u + 1.
        self._follow_chain(symbol, first, final, data.get("pu"), session, writer)

    def _snapshot_params(self, symbol: str) -> dict[str, str]:
        return {"symbol": symbol, "limit": str(self.options.snapshot_limit)}

    def _write_snapshot(self, writer: CaptureWriter, receive_ns: int, body: bytes, symbol: str) -> None:
        writer.write_snapshot(receive_ns, body, symbol if len(self.symbols) > 1 else None)


def open_recorder(options: RecordOptions) -> Recorder | VenueRecorder:
    """The recorder for the options' venue: Binance's combined streams (spot, USD-M, COIN-M) by
    URL here, the venues subscribed by message (OKX, Bybit, Gate.io, Hyperliquid) by
    producer/venue_recorder.py."""
    if resolve(options.exchange, options.market).subscribe is None:
        return Recorder(options)
    return VenueRecorder(options)
