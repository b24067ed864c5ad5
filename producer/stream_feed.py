"""The feed of venues that send the book in the stream (OKX, Bybit): the same feed as Binance's
(producer/feed.py: routing, publishing, the DLQ, supervised per-book sync tasks), with the
venue's own message format (`ExchangeSpec.parse_message`) and a different way to get a snapshot:
a book that needs one has its stream subscribed again on its connection (`resubscribe`, wired by
the service), and the venue answers with the whole book; the other books of that connection
carry on. The books are kept by the stream procedure (producer/stream_sync.py) of the Python
engine or its compiled twin (producer/native_stream_sync.py), which takes the live books' update
frames first (BookFeed.on_frame) and hands the rest to the Python path here."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from producer.engine import Outcome
from producer.exchanges import BadFrame, BookSnapshot
from producer.feed import BookFeed
from producer.stream_sync import StreamProcedure
from producer.symbol_state import SymbolState

log = logging.getLogger(__name__)


class StreamBookFeed(BookFeed):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.diff:
            raise ValueError(f"{self.spec.id} sends its book as one stream: stream_kind must be diff")
        # Sends a stream's resubscribe messages on the connection that carries it (the service).
        self.resubscribe: Callable[[str], Awaitable[None]] | None = None
        self.resubscribe_wait_s = 10.0  # then subscribe again
        self._stream_of = {state.symbol: stream for stream, state in self.routes.items()}
        ping = self.spec.ping
        self._pong: tuple[str, bytes] | None = (ping[2], ping[2].encode()) if ping and ping[2] else None

    def _on_frame_python(self, raw: str | bytes, receive_time_ns: int) -> str | None:
        if self._pong is not None and raw in self._pong:
            return None
        parse = self.spec.parse_message
        assert parse is not None, "a venue with snapshots in the stream declares parse_message"
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self._dead_letter(raw, f"malformed JSON: {exc}", None, None)
            return None
        if self.trades is not None and self.trades.take(msg, raw, receive_time_ns):
            self.trade_frames += 1
            return None
        try:
            parsed = parse(msg, receive_time_ns)
        except BadFrame as exc:
            self._dead_letter(raw, str(exc), None, None)
            return None
        if parsed is None:  # the venue's control messages (subscription answers, ...)
            return None
        stream, item = parsed
        state = self.routes.get(stream)
        if state is None:
            self._dead_letter(raw, f"unknown stream {stream!r}", stream, None)
            return None
        sync = state.sync
        assert isinstance(sync, StreamProcedure)
        if isinstance(item, BookSnapshot):
            outcome = sync.on_stream_snapshot(item)
            if outcome is Outcome.APPLIED:
                event_time = item.event_time if item.event_time is not None else receive_time_ns // 10**6
                self._publish(state, event_time, item.transaction_time, receive_time_ns, item.last_update_id)
                if sync.record_resynced:  # not every whole book of a snapshot-only venue
                    log.info("%s: book synced at sequence id %d", state.symbol, item.last_update_id)
        else:
            if item.symbol != state.symbol:
                self._dead_letter(raw, f"symbol {item.symbol!r} on stream {stream!r}", stream, state)
                return None
            outcome = sync.on_event(item)
            if outcome is Outcome.APPLIED:
                self._publish(state, item.event_time, item.transaction_time, receive_time_ns, item.final_id)
        if outcome is Outcome.NEED_SNAPSHOT:
            log.warning("%s: %s, subscribing to its book again", state.symbol, sync.wait_reason)
            self._request_snapshot(state)
        return None

    def rename_streams(self, renames: dict[str, str]) -> None:
        """Route the books by the venue's stream names (`Instrument.venue_name`), before any frame."""
        self.routes = {renames.get(stream, stream): state for stream, state in self.routes.items()}
        self._stream_of = {state.symbol: stream for stream, state in self.routes.items()}
        if self._frame_path is not None:
            self._frame_path.set_streams(list(self.routes))

    async def _sync_symbol(self, state: SymbolState) -> None:
        """Subscribe the book's stream again until the venue's snapshot has made it live."""
        stream = self._stream_of[state.symbol]
        while not state.sync.live:
            if self.resubscribe is None:
                raise RuntimeError(f"{state.symbol}: no connection to subscribe again on")
            await self.resubscribe(stream)
            deadline = time.monotonic() + self.resubscribe_wait_s
            while not state.sync.live and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
