"""The hot path: one raw WebSocket frame in, zero or one orderbook.raw record out.

BookFeed owns every symbol of one producer process: it parses frames (orjson), routes them by
stream name to the symbol's BookSync, publishes each new book state, sends anything it cannot use
to the DLQ with the reason, and starts a snapshot fetch for a symbol that needs one (at start, or
after a gap: only that symbol is resynced, its connection and the other books carry on).

Two engines for diff-depth streams, with the same behaviour: "native" (the default, what the
service runs) hands each frame first to the compiled hot path (`producer.native_sync`, Rust),
which handles a live book's frame in one call and returns the serialized record; every frame it
does not take (bad, unusual, not live, a gap) comes back untouched and goes through the Python
code below, the reference, which is also the whole of the "python" engine.

A symbol's first snapshot is requested when its first event is buffered, not when the process
starts: only then is the stream known to be open, so every change after the snapshot will arrive.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from producer.exchanges import BadFrame, BookSnapshot, Continuity, DepthEvent, ExchangeSpec
from producer.publisher import RecordPublisher
from producer.sync import BookSync, Outcome, PartialSync
from schemas import SCHEMA_VERSION, dlq_record, record_key

if TYPE_CHECKING:
    from producer.native_sync import NativeBookSync

log = logging.getLogger(__name__)

# End-to-end lag buckets (receive time - exchange event time), ms.
LAG_BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
SERVER_SHUTDOWN = "serverShutdown"


class SymbolState:
    __slots__ = ("symbol", "sync", "key", "key_text", "records", "_crossed", "dlq", "snapshot_task")

    def __init__(self, exchange: str, symbol: str, sync: BookSync | PartialSync | NativeBookSync) -> None:
        self.symbol = symbol
        self.sync = sync
        self.key_text = record_key(exchange, symbol)
        self.key = self.key_text.encode()
        self.records = 0
        self._crossed = 0  # counted here by the Python engine, by the native book otherwise
        self.dlq = 0
        self.snapshot_task: asyncio.Task[None] | None = None

    @property
    def crossed(self) -> int:
        """Records of this symbol whose book was crossed (best bid >= best ask)."""
        core = getattr(self.sync, "core", None)
        return self._crossed + (core.crossed if core is not None else 0)


class BookFeed:
    def __init__(
        self,
        spec: ExchangeSpec,
        symbols: list[str],
        publisher: RecordPublisher,
        fetch_snapshot: Callable[[str], Awaitable[BookSnapshot]],
        depth: int = 20,
        stream_kind: str = "diff",
        partial_depth: int = 20,
        poll_every: int = 500,
        engine: str = "native",
    ) -> None:
        if stream_kind not in ("diff", "partial"):
            raise ValueError(f"stream_kind must be diff or partial, not {stream_kind!r}")
        if engine not in ("native", "python"):
            raise ValueError(f"engine must be native or python, not {engine!r}")
        # Partial-depth frames replace the whole book every 100 ms: no hot path worth compiling.
        self.native = engine == "native" and stream_kind == "diff"
        if self.native:
            from producer.native_sync import NativeBookSync, NativeFeed  # fails clearly if not built
        self.spec = spec
        self.depth = depth
        self.diff = stream_kind == "diff"
        self.publisher = publisher
        self._fetch_snapshot = fetch_snapshot
        self.symbols: dict[str, SymbolState] = {}
        self.routes: dict[str, SymbolState] = {}
        for symbol in symbols:
            if self.native:
                sync: BookSync | PartialSync | NativeBookSync = NativeBookSync.create(
                    spec.id, spec.market, symbol, spec.continuity, depth, SCHEMA_VERSION
                )
                stream = spec.diff_channel(symbol)
            elif self.diff:
                sync = BookSync(symbol, spec.continuity)
                stream = spec.diff_channel(symbol)
            else:
                if partial_depth not in spec.partial_depths:
                    raise ValueError(f"partial depth must be one of {spec.partial_depths}")
                sync = PartialSync(symbol)
                stream = spec.partial_channel(symbol, partial_depth)
            state = SymbolState(spec.id, symbol, sync)
            self.symbols[symbol] = state
            self.routes[stream] = state
        self._by_index = list(self.routes.values())
        self._native_on_frame: Callable[[str | bytes, int], Any] | None = None
        if self.native:
            self._native_feed = NativeFeed(
                list(self.routes),
                [state.sync.core for state in self._by_index],  # type: ignore[union-attr]
                spec.continuity is Continuity.PREV_FINAL_ID,
                list(LAG_BUCKETS_MS),
            )
            self._native_on_frame = self._native_feed.on_frame
            self._publish_book_json = publisher.publish_book_json
        self._poll_every = poll_every
        self._until_poll = poll_every
        self.frames_in = 0
        self.dlq = 0
        # Lag of the records made in Python; the native path keeps its own (see the properties).
        self._lag_buckets = [0] * (len(LAG_BUCKETS_MS) + 1)
        self._lag_sum_ms = 0
        self._lag_count = 0

    @property
    def streams(self) -> list[str]:
        return list(self.routes)

    @property
    def lag_buckets(self) -> list[int]:
        """Records per lag bucket (receive time - event time, ms; bounds LAG_BUCKETS_MS, then +Inf)."""
        if not self.native:
            return list(self._lag_buckets)
        return [a + b for a, b in zip(self._lag_buckets, self._native_feed.lag_buckets, strict=True)]

    @property
    def lag_sum_ms(self) -> int:
        return self._lag_sum_ms + (int(self._native_feed.lag_sum_ms) if self.native else 0)

    @property
    def lag_count(self) -> int:
        return self._lag_count + (int(self._native_feed.lag_count) if self.native else 0)

    def is_live(self) -> bool:
        return all(s.sync.live for s in self.symbols.values())

    async def stop(self) -> None:
        tasks = [s.snapshot_task for s in self.symbols.values() if s.snapshot_task]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- frames --------------------------------------------------------------------------------

    def on_frame(self, raw: str | bytes, receive_time_ns: int) -> str | None:
        """Handle one frame. Returns SERVER_SHUTDOWN when the exchange announced it will close
        the connection (the caller reconnects), else None."""
        self.frames_in += 1
        native = self._native_on_frame
        if native is None:
            return self._on_frame_python(raw, receive_time_ns)
        done = native(raw, receive_time_ns)
        if done is None:  # not taken by the native path: nothing changed, the reference decides
            return self._on_frame_python(raw, receive_time_ns)
        if done is not False:  # False: stale, already covered by the book
            index, payload = done  # lag and crossed were counted natively
            state = self._by_index[index]
            if self._publish_book_json(state.key, payload, False):
                state.records += 1
            self._until_poll -= 1
            if self._until_poll <= 0:
                self._until_poll = self._poll_every
                self.publisher.poll(0)
        return None

    def _on_frame_python(self, raw: str | bytes, receive_time_ns: int) -> str | None:
        """The reference path (and the native engine's path for every frame it hands back)."""
        try:
            msg = orjson.loads(raw)
            stream = msg["stream"]
            data = msg["data"]
        except orjson.JSONDecodeError as exc:
            self._dead_letter(raw, f"malformed JSON: {exc}", None, None)
            return None
        except (KeyError, TypeError):
            return self._on_unrouted(raw, msg)
        state = self.routes.get(stream)
        if state is None:
            self._dead_letter(raw, f"unknown stream {stream!r}", str(stream), None)
            return None
        if type(data) is not dict:
            self._dead_letter(raw, "data is not an object", stream, state)
            return None
        try:
            if self.diff:
                ev = self.spec.parse_diff(data, receive_time_ns)
                if ev.symbol != state.symbol:
                    raise BadFrame(f"symbol {ev.symbol!r} on stream {stream!r}")
            else:
                snap = self.spec.parse_partial(data, receive_time_ns, state.symbol)
        except BadFrame as exc:
            self._dead_letter(raw, str(exc), stream, state)
            return None
        if self.diff:
            outcome = state.sync.on_event(ev)  # type: ignore[union-attr, arg-type]
            if outcome is Outcome.APPLIED:
                self._publish(state, ev.event_time, ev.transaction_time, receive_time_ns, ev.final_id)
            elif outcome is Outcome.BUFFERED:
                # Binance's order: stream open and an event buffered first, snapshot after. A
                # snapshot taken before the stream reached us can miss the changes made between
                # it and the stream's first event, and that reads as a gap a moment later.
                self._request_snapshot(state)
            elif outcome is Outcome.NEED_SNAPSHOT:
                log.warning("%s: sequence gap at U=%d, resyncing this symbol", state.symbol, ev.first_id)
                self._request_snapshot(state)
        elif state.sync.on_partial(snap) is Outcome.APPLIED:  # type: ignore[union-attr]
            event_time = snap.event_time if snap.event_time is not None else receive_time_ns // 1_000_000
            self._publish(state, event_time, snap.transaction_time, receive_time_ns, snap.last_update_id)
        return None

    def _on_unrouted(self, raw: str | bytes, msg: Any) -> str | None:
        if isinstance(msg, dict):
            data = msg.get("data")
            inner = data if isinstance(data, dict) else msg
            if inner.get("e") == SERVER_SHUTDOWN:
                return SERVER_SHUTDOWN
            if "result" in msg and "id" in msg:  # answer to a (un)subscribe request
                return None
        self._dead_letter(raw, "not a combined-stream frame (no 'stream'/'data')", None, None)
        return None

    def _publish(
        self,
        state: SymbolState,
        event_time: int,
        transaction_time: int | None,
        receive_time_ns: int,
        seq: int,
    ) -> None:
        sync = state.sync
        if self.native:  # the native book serializes (and counts crossed books)
            payload, _ = sync.core.record(  # type: ignore[union-attr]
                event_time, transaction_time, receive_time_ns, seq
            )
            if self.publisher.publish_book_json(state.key, payload, force_check=sync.record_resynced):
                state.records += 1
        else:
            self._publish_record(state, event_time, transaction_time, receive_time_ns, seq)
        lag = receive_time_ns // 1_000_000 - event_time
        self._lag_buckets[bisect_left(LAG_BUCKETS_MS, lag)] += 1
        self._lag_sum_ms += lag
        self._lag_count += 1
        self._until_poll -= 1
        if self._until_poll <= 0:
            self._until_poll = self._poll_every
            self.publisher.poll(0)

    def _publish_record(
        self,
        state: SymbolState,
        event_time: int,
        transaction_time: int | None,
        receive_time_ns: int,
        seq: int,
    ) -> None:
        """The Python engine's record: the top N as floats in a dict, serialized by the publisher."""
        sync = state.sync
        bid_prices, bid_sizes, ask_prices, ask_sizes = sync.book.top(self.depth)
        crossed = bool(bid_prices) and bool(ask_prices) and bid_prices[0] >= ask_prices[0]
        if crossed:
            state._crossed += 1
        record = {
            "schema_version": SCHEMA_VERSION,
            "exchange": self.spec.id,
            "market": self.spec.market,
            "symbol": state.symbol,
            "event_time": event_time,
            "transaction_time": transaction_time,
            "receive_time_ns": receive_time_ns,
            "sequence_id": seq,
            "prev_sequence_id": sync.record_prev_id,
            "bid_prices": bid_prices,
            "bid_sizes": bid_sizes,
            "ask_prices": ask_prices,
            "ask_sizes": ask_sizes,
            "resynced": sync.record_resynced,
            "crossed": crossed,
        }
        if self.publisher.publish_book(state.key, record, force_check=sync.record_resynced):
            state.records += 1

    @property
    def native_deferred(self) -> int:
        """Frames the native path handed to the Python one (0 in a live steady state)."""
        return int(self._native_feed.deferred) if self.native else 0

    def _dead_letter(
        self, raw: str | bytes, reason: str, origin: str | None, state: SymbolState | None
    ) -> None:
        self.dlq += 1
        if state is not None:
            state.dlq += 1
        self.publisher.publish_dlq(
            dlq_record(
                source="producer",
                reason=reason,
                payload=raw,
                origin=origin,
                key=state.key_text if state else None,
            )
        )

    # -- snapshots -----------------------------------------------------------------------------

    def _request_snapshot(self, state: SymbolState) -> None:
        if state.snapshot_task is None or state.snapshot_task.done():
            state.snapshot_task = asyncio.get_running_loop().create_task(self._sync_symbol(state))

    async def _sync_symbol(self, state: SymbolState) -> None:
        sync = state.sync
        assert not isinstance(sync, PartialSync)
        while not sync.live:
            snap = await self._fetch_snapshot(state.symbol)

            def emit(ev: DepthEvent, state: SymbolState = state) -> None:
                self._publish(state, ev.event_time, ev.transaction_time, ev.receive_time_ns, ev.final_id)

            outcome = sync.on_snapshot(snap, emit)
            if outcome is Outcome.NEED_SNAPSHOT:
                # Older than the buffered stream (or a gap inside the buffer): ask again shortly.
                log.info(
                    "%s: snapshot %d does not chain onto the stream, fetching again",
                    state.symbol,
                    snap.last_update_id,
                )
                await asyncio.sleep(0.2)
            else:
                log.info("%s: book synced at update id %d", state.symbol, snap.last_update_id)
