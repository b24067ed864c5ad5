"""Replay of a capture: every WebSocket session gets the capture's frames in order from the start,
paced at 1x, Nx or as fast as the socket takes them, and `/api/v3/depth` serves the capture's
REST snapshot.

Which snapshot: the latest one in the capture at or before the furthest session's position (the
first one if no session has reached any yet). A snapshot newer than a client's stream position
is fine by Binance's procedure (the client drops older events). After an injected drop, though,
the capture holds no snapshot that could heal the gap, so the replay rebuilds the book from the
capture (snapshot + diffs, by the same procedure the producer uses) up to the furthest position
and serves that: the exchange's book at that update id. With `snapshots_in_order` (crafted
captures) a session is not sent past a snapshot line until the earlier snapshots have been served,
so a client gets the snapshots in the capture's order whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import orjson

from producer.book import to_text
from producer.capture import Capture, load_capture
from producer.exchanges import binance_spot
from producer.sync import BookSync, Outcome


@dataclass
class ReplayOptions:
    path: str
    speed: float = 1.0  # 1 = as recorded, N = N times faster, 0 = as fast as possible
    close_at_end: bool = False
    # Crafted captures (golden tests): do not send past a symbol's snapshot line until every
    # earlier snapshot of that symbol has been served, so which snapshot a client gets depends on
    # the order of the capture, not on how fast the machine is.
    snapshots_in_order: bool = False


class ReplaySource:
    def __init__(self, options: ReplayOptions, capture: Capture | None = None) -> None:
        self.options = options
        self.capture = capture or load_capture(options.path)
        self.frames = self.capture.frames
        self.symbols = sorted(self.capture.symbols)
        self._snapshots = {s: self.capture.snapshot_indices(s) for s in self.symbols}
        self._data_only: dict[int, bytes] = {}  # frame index -> "data" part, for /ws sessions
        self.max_cursor = 0
        self._served: dict[int, asyncio.Event] = {}  # snapshot line index -> served once
        self.dirty: set[str] = set()  # symbols with an injected drop since the last rebuilt snapshot
        self.sent = 0

    def data_of(self, index: int) -> bytes:
        cached = self._data_only.get(index)
        if cached is None:
            cached = orjson.dumps(orjson.loads(self.frames[index].raw)["data"])
            self._data_only[index] = cached
        return cached

    async def serve(self, session, faults, is_stopping) -> None:  # noqa: ANN001 - Session, Faults
        """Send the capture to one session, honouring faults; returns at the end or on close."""
        speed = self.options.speed
        frames = self.frames
        t0 = time.monotonic()
        first_ns = frames[0].receive_ns if frames else 0
        for index, frame in enumerate(frames):
            if session.closed or is_stopping():
                return
            if frame.stream is None and self.options.snapshots_in_order:
                for earlier in self._snapshots.get(frame.symbol or "", []):
                    if earlier < index:
                        await self._served_event(earlier).wait()
            if index > self.max_cursor:
                self.max_cursor = index
            if frame.stream is None or frame.stream not in session.streams:
                continue
            if speed > 0:
                delay = (frame.receive_ns - first_ns) / 1e9 / speed - (time.monotonic() - t0)
                if delay > 0.002:
                    await asyncio.sleep(delay)
            elif index % 200 == 0:
                await asyncio.sleep(0)
            await session.wait_unstalled()
            for extra in faults.take_malformed(frame.symbol):
                await session.send_raw(extra)
            if frame.first_id and faults.take_drop(frame.symbol):
                self.dirty.add(frame.symbol)  # type: ignore[arg-type]  # depth frames carry their symbol
                continue
            if session.combined:
                await session.send_raw(frame.raw)
            else:
                await session.send_raw(self.data_of(index))
            self.sent += 1
        if self.options.close_at_end:
            await session.close()

    def snapshot(self, symbol: str, limit: int) -> bytes:
        indices = self._snapshots.get(symbol) or []
        if not indices:
            raise KeyError(symbol)
        at_or_before = [i for i in indices if i <= self.max_cursor]
        chosen = at_or_before[-1] if at_or_before else indices[0]
        self._served_event(chosen).set()
        if symbol not in self.dirty:
            return self._strip(self.frames[chosen].raw, limit)
        self.dirty.discard(symbol)
        return self._rebuild(symbol, chosen, limit)

    def _served_event(self, index: int) -> asyncio.Event:
        return self._served.setdefault(index, asyncio.Event())

    @staticmethod
    def _strip(raw: bytes, limit: int) -> bytes:
        msg = orjson.loads(raw)
        msg.pop("symbol", None)
        msg["bids"] = msg["bids"][:limit]
        msg["asks"] = msg["asks"][:limit]
        return orjson.dumps(msg)

    def _rebuild(self, symbol: str, start: int, limit: int) -> bytes:
        """The book at the furthest position: capture snapshot + the diffs after it."""
        sync = BookSync(symbol, binance_spot.EXCHANGE.continuity)
        snap = binance_spot.parse_snapshot(orjson.loads(self.frames[start].raw))
        sync.on_snapshot(snap, lambda ev: None)
        for frame in self.frames[start + 1 : self.max_cursor + 1]:
            if frame.symbol != symbol or not frame.first_id:
                continue
            ev = binance_spot.parse_diff(orjson.loads(frame.raw)["data"], frame.receive_ns)
            if sync.on_event(ev) is Outcome.NEED_SNAPSHOT:
                break  # the recording itself has a gap here: serve what was consistent
        book = sync.book
        return orjson.dumps(
            {
                "lastUpdateId": sync.local_id,
                "bids": [[to_text(p), to_text(s)] for p, s in book.levels("bids", limit)],
                "asks": [[to_text(p), to_text(s)] for p, s in book.levels("asks", limit)],
            }
        )
