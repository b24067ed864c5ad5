"""`obm record`: write raw frames with their receive times in the capture format, from Binance
or from the simulator, so a capture made anywhere replays here (the venues subscribed by message:
producer/venue_recorder.py, chosen by `open_recorder`).

It subscribes to the diff-depth stream (plus bookTicker and trades, which make the capture
self-checking: a bookTicker's `u` pins the best levels at that update id) and, once the first
depth event of a symbol is in, fetches that symbol's REST snapshot and writes it as a line, as
in the capture in shared/data. A broken chain in the recording (U != previous u + 1) gets a fresh
snapshot line, so the replay can resync there.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import aiohttp
import orjson

from producer.capture import CaptureWriter
from producer.exchanges import resolve
from producer.venue_recorder import VenueRecorder

log = logging.getLogger(__name__)


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


class Recorder:
    def __init__(self, options: RecordOptions) -> None:
        self.options = options
        self.spec = resolve(options.exchange, options.market)
        self.symbols = [s.upper() for s in options.symbols]
        self.ws_url = options.ws_url or self.spec.ws_url
        self.rest_url = (options.rest_url or self.spec.rest_url).rstrip("/")
        self.frames = 0
        self.snapshots = 0
        self._last_u: dict[str, int] = {}
        self._pending: set[str] = set()

    def streams(self) -> list[str]:
        out = []
        for symbol in self.symbols:
            low = symbol.lower()
            for channel in self.options.channels:
                out.append(self.spec.diff_channel(symbol) if channel == "depth" else f"{low}@{channel}")
        return out

    async def run(self, stop: asyncio.Event) -> int:
        writer = CaptureWriter(self.options.output)
        deadline = time.monotonic() + self.options.duration_s if self.options.duration_s else None
        tasks: set[asyncio.Task[None]] = set()
        try:
            async with aiohttp.ClientSession() as session:
                url = self.spec.stream_url(self.ws_url, self.streams())
                async with session.ws_connect(url, heartbeat=20.0, max_msg_size=0) as ws:
                    while not stop.is_set():
                        timeout = None if deadline is None else deadline - time.monotonic()
                        if timeout is not None and timeout <= 0:
                            break
                        try:
                            msg = await asyncio.wait_for(ws.receive(), timeout=min(timeout or 1.0, 1.0))
                        except TimeoutError:
                            continue
                        if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                            break
                        now = time.time_ns()
                        raw = msg.data.encode() if isinstance(msg.data, str) else msg.data
                        writer.write(now, raw)
                        self.frames += 1
                        self._check_chain(raw, session, writer, tasks)
                        if self.options.max_frames and self.frames >= self.options.max_frames:
                            break
                    await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            writer.close()
        log.info(
            "recorded %d frames and %d snapshots to %s", self.frames, self.snapshots, self.options.output
        )
        return self.frames

    def _check_chain(
        self,
        raw: bytes,
        session: aiohttp.ClientSession,
        writer: CaptureWriter,
        tasks: set[asyncio.Task[None]],
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
        last = self._last_u.get(symbol)
        self._last_u[symbol] = final
        chained = last is not None and (first == last + 1 or data.get("pu") == last)
        if not chained and symbol not in self._pending:
            self._pending.add(symbol)
            task = asyncio.get_running_loop().create_task(self._snapshot(symbol, session, writer))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def _snapshot(self, symbol: str, session: aiohttp.ClientSession, writer: CaptureWriter) -> None:
        url = f"{self.rest_url}{self.spec.depth_path}"
        try:
            async with session.get(
                url, params={"symbol": symbol, "limit": str(self.options.snapshot_limit)}
            ) as resp:
                body = await resp.read()
                if resp.status != 200:
                    log.warning("snapshot %s: HTTP %s", symbol, resp.status)
                    return
            writer.write_snapshot(time.time_ns(), body, symbol if len(self.symbols) > 1 else None)
            self.snapshots += 1
        finally:
            self._pending.discard(symbol)


def open_recorder(options: RecordOptions) -> Recorder | VenueRecorder:
    """The recorder for the options' venue: Binance's combined streams (spot, USD-M, COIN-M) by
    URL here, the venues subscribed by message (OKX, Bybit, Gate.io, Hyperliquid) by
    producer/venue_recorder.py."""
    if resolve(options.exchange, options.market).subscribe is None:
        return Recorder(options)
    return VenueRecorder(options)
