"""What the two recorders of `obm record` share: producer/recorder.py (Binance's streams, named in
the URL) and producer/venue_recorder.py (the venues subscribed by message) differ in how they
connect and what they write first, and in how they read a book update off a frame; the rest is one
procedure, here.

Every frame is written with its receive time until the stop event, the duration or the frame limit
(or the connection ends). A book whose updates are recorded without its snapshot in the stream gets
a REST snapshot after its first update and after every break in the recorded update-id chain, so a
replay can resync there. Snapshots are fetched beside the receive loop and awaited before the
capture is closed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import aiohttp

from producer.capture import CaptureWriter
from producer.exchanges import ExchangeSpec, resolve

WriterT = TypeVar("WriterT", bound=CaptureWriter)


@dataclass
class RecordOptions:
    output: str
    symbols: list[str]
    exchange: str = "binance"
    market: str = "spot"
    ws_url: str = ""
    rest_url: str = ""
    channels: list[str] = field(default_factory=lambda: ["depth", "bookTicker", "trade"])
    duration_s: float | None = None
    max_frames: int | None = None
    snapshot_limit: int = 1000


class StreamRecorder(Generic[WriterT]):
    """One recording: `run` opens the capture and a session, `_record` (the recorder's own)
    connects and calls `_receive`; `_on_frame` reads a book update off a frame and hands it to
    `_follow_chain`; `_snapshot_params` and `_write_snapshot` say how a snapshot is asked for and
    written in that recorder's capture format."""

    def __init__(self, options: RecordOptions) -> None:
        self.options = options
        self.spec: ExchangeSpec = resolve(options.exchange, options.market)
        self.symbols = [s.upper() for s in options.symbols]
        self.ws_url = options.ws_url or self.spec.ws_url
        self.rest_url = (options.rest_url or self.spec.rest_url).rstrip("/")
        self.frames = 0
        self.snapshots = 0
        self._last_u: dict[str, int] = {}
        self._pending: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        # Logged as the recorder's own module, as before the two shared this class.
        self._log = logging.getLogger(type(self).__module__)

    def _open_writer(self) -> WriterT:
        raise NotImplementedError

    async def _record(
        self,
        session: aiohttp.ClientSession,
        writer: WriterT,
        stop: asyncio.Event,
        deadline: float | None,
    ) -> None:
        raise NotImplementedError

    def _on_frame(self, raw: bytes, receive_ns: int, session: aiohttp.ClientSession, writer: WriterT) -> None:
        raise NotImplementedError

    def _snapshot_params(self, symbol: str) -> dict[str, str]:
        raise NotImplementedError

    def _write_snapshot(self, writer: WriterT, receive_ns: int, body: bytes, symbol: str) -> None:
        raise NotImplementedError

    async def run(self, stop: asyncio.Event) -> int:
        """Record until `stop` is set, the duration is over, the frame limit is reached or the
        connection ends; the number of frames written."""
        writer = self._open_writer()
        deadline = time.monotonic() + self.options.duration_s if self.options.duration_s else None
        try:
            async with aiohttp.ClientSession() as session:
                await self._record(session, writer, stop, deadline)
                await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            writer.close()
        self._log.info(
            "recorded %d frames and %d snapshots to %s", self.frames, self.snapshots, self.options.output
        )
        return self.frames

    async def _receive(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        stop: asyncio.Event,
        deadline: float | None,
        session: aiohttp.ClientSession,
        writer: WriterT,
    ) -> None:
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
            self._on_frame(raw, now, session, writer)
            if self.options.max_frames and self.frames >= self.options.max_frames:
                return

    def _follow_chain(
        self,
        symbol: str,
        first: int,
        final: int,
        previous_final: int | None,
        session: aiohttp.ClientSession,
        writer: WriterT,
    ) -> None:
        """Note a book update (ids `first`..`final`; `previous_final`, where the venue says it, the
        final id of the update before); one that does not continue the recorded chain, or the
        book's first, asks for a snapshot unless one is already on its way."""
        last = self._last_u.get(symbol)
        self._last_u[symbol] = final
        chained = last is not None and (first == last + 1 or previous_final == last)
        if not chained and symbol not in self._pending:
            self._pending.add(symbol)
            task = asyncio.get_running_loop().create_task(self._snapshot(symbol, session, writer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _snapshot(self, symbol: str, session: aiohttp.ClientSession, writer: WriterT) -> None:
        url = f"{self.rest_url}{self.spec.depth_path}"
        try:
            async with session.get(url, params=self._snapshot_params(symbol)) as resp:
                body = await resp.read()
                if resp.status != 200:
                    self._log.warning("snapshot %s: HTTP %s", symbol, resp.status)
                    return
            self._write_snapshot(writer, time.time_ns(), body, symbol)
            self.snapshots += 1
        finally:
            self._pending.discard(symbol)
