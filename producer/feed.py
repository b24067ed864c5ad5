"""The hot path: one raw WebSocket frame in, zero or one orderbook.raw record out.

BookFeed owns every symbol of one producer process: it parses frames (orjson), routes them by
stream name to the symbol's book engine (producer/engine.py), publishes each new book state, sends
anything it cannot use to the DLQ with the reason, and runs each book's sync task, which fetches a
snapshot when the book needs one (at start, or after a gap: only that symbol is resynced, its
connection and the other books carry on).

Two engines for diff-depth streams, with the same behaviour (`choose_engine`): "native" (the
default, what the service runs) hands each frame first to the compiled path of the native engine
(`producer.native_sync`, Rust), which handles a live book's frame in one call and returns the
serialized record; every frame it does not take (bad, unusual, not live, a gap) comes back
untouched and goes through the Python code below, the reference, which is also the whole of the
"python" engine.

A symbol's first snapshot is requested when its first event is buffered, not when the process
starts: only then is the stream known to be open, so every change after the snapshot will arrive.

A book's sync task never dies silently: a permanent error (the venue does not know the symbol)
stops the producer with the reason (`on_fatal`); any other error is logged, shown as the book's
failure (state `failed`, with the reason, since when and a restart counter) and the task is
restarted after an exponential backoff with full jitter.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from producer.engine import BookEngine, FramePath, Outcome
from producer.engine_choice import resolve_engine
from producer.exchanges import BadFrame, BookSnapshot, DepthEvent, ExchangeSpec
from producer.publisher import RecordPublisher
from producer.ratelimit import full_jitter
from producer.rest import SNAPSHOT_ERRORS, UnknownSymbol
from producer.symbol_state import BookReport, SymbolState
from producer.sync import BookSync
from producer.trades import TradeFeed
from schemas import dlq_record

log = logging.getLogger(__name__)

# End-to-end lag buckets (receive time - exchange event time), ms.
LAG_BUCKETS_MS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
SERVER_SHUTDOWN = "serverShutdown"
ENGINES = ("native", "python", "auto")


def choose_engine(engine: str, stream_kind: str, spec: ExchangeSpec | None = None) -> type[BookEngine]:
    """The book engine class for `engine` ("native", "python", or "auto": native when it is built)
    on a `stream_kind` stream of `spec`'s venue: the one place the engine is chosen. The venue's
    Python engine (`spec.book_engine`, else Binance's BookSync) is the reference; "native" runs its
    compiled twin (`BookEngine.compiled`) where it has one. Partial-depth frames replace the whole
    book every 100 ms: no hot path worth compiling, so they always use the Python engine."""
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    reference: type[BookEngine] = spec.book_engine() if spec is not None and spec.book_engine else BookSync
    engine, why = resolve_engine(engine)
    if why and stream_kind == "diff":
        log.warning("engine: python (%s); scripts/bootstrap.sh builds the compiled one where cargo is", why)
    if engine == "python" or stream_kind == "partial":
        return reference
    return reference.compiled(spec) or reference


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
        on_fatal: Callable[[str], None] | None = None,
        restart_backoff_s: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        """`on_fatal(reason)` is called when a book cannot be kept at all (the service stops);
        `restart_backoff_s` = (base, cap) of a failed sync task's restart delay."""
        if stream_kind not in ("diff", "partial"):
            raise ValueError(f"stream_kind must be diff or partial, not {stream_kind!r}")
        # A venue that needs its own engine (sizes in contracts, a book in the stream) names it.
        engine_class = choose_engine(engine, stream_kind, spec)
        self.spec = spec
        self.depth = depth
        self.diff = stream_kind == "diff"
        if not self.diff and partial_depth not in spec.partial_depths:
            raise ValueError(f"partial depth must be one of {spec.partial_depths}")
        self.publisher = publisher
        self._fetch_snapshot = fetch_snapshot
        self._on_fatal = on_fatal
        self._restart_backoff_s = restart_backoff_s
        self.symbols: dict[str, SymbolState] = {}
        self.routes: dict[str, SymbolState] = {}
        for symbol in symbols:
            state = SymbolState(spec.id, symbol, engine_class.create(spec, symbol, depth))
            self.symbols[symbol] = state
            stream = spec.diff_channel(symbol) if self.diff else spec.partial_channel(symbol, partial_depth)
            self.routes[stream] = state
        self._by_index = list(self.routes.values())
        # The engine's compiled path over whole frames, if it has one (diff streams only).
        self._frame_path: FramePath | None = (
            engine_class.frame_path(spec, list(self.routes), [s.sync for s in self._by_index], LAG_BUCKETS_MS)
            if self.diff
            else None
        )
        self.native = self._frame_path is not None
        self._fast_on_frame = self._frame_path.on_frame if self._frame_path is not None else None
        self._publish_book_json = publisher.publish_book_json
        self._poll_every = poll_every
        self._until_poll = poll_every
        self.frames_in = 0
        self.dlq = 0
        # Lag of the records made in Python; the compiled path keeps its own (see the properties).
        self._lag_buckets = [0] * (len(LAG_BUCKETS_MS) + 1)
        self._lag_sum_ms = 0
        self._lag_count = 0
        # The trade streams riding on these connections (producer/trades.py), set by the service.
        self.trades: TradeFeed | None = None
        self.trade_frames = 0

    @property
    def streams(self) -> list[str]:
        return list(self.routes)

    @property
    def lag_buckets(self) -> list[int]:
        """Records per lag bucket (receive time - event time, ms; bounds LAG_BUCKETS_MS, then +Inf)."""
        if self._frame_path is None:
            return list(self._lag_buckets)
        return [a + b for a, b in zip(self._lag_buckets, self._frame_path.lag_buckets, strict=True)]

    @property
    def lag_sum_ms(self) -> int:
        return self._lag_sum_ms + (int(self._frame_path.lag_sum_ms) if self._frame_path else 0)

    @property
    def lag_count(self) -> int:
        return self._lag_count + (int(self._frame_path.lag_count) if self._frame_path else 0)

    @property
    def native_deferred(self) -> int:
        """Frames the compiled path handed to the Python one (0 in a live steady state)."""
        # A trade frame is no book frame: the compiled path hands every one on.
        return int(self._frame_path.deferred) - self.trade_frames if self._frame_path else 0

    def is_live(self) -> bool:
        return all(s.sync.live for s in self.symbols.values())

    def book_reports(self) -> list[BookReport]:
        """Every book's state (with the reason and since when), counters, records and DLQ frames:
        what /books, /readyz, /metrics and `obm status` show."""
        ex = self.spec.id
        return [BookReport(s.status(ex), s.sync.counters(), s.records, s.dlq) for s in self.symbols.values()]

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
        fast = self._fast_on_frame
        if fast is None:
            return self._on_frame_python(raw, receive_time_ns)
        done = fast(raw, receive_time_ns)
        if done is None:  # not taken by the compiled path: nothing changed, the reference decides
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
            trades = self.trades
            if trades is not None and stream in trades.routes:
                self.trade_frames += 1
                trades.on_data(stream, data, raw, receive_time_ns)
                return None
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
            self._on_diff(state, ev, receive_time_ns)
        else:
            sync = state.sync
            assert isinstance(sync, BookSync)  # choose_engine: partial streams use the Python engine
            if sync.on_partial(snap) is Outcome.APPLIED:
                event_time = snap.event_time if snap.event_time is not None else receive_time_ns // 1_000_000
                self._publish(state, event_time, snap.transaction_time, receive_time_ns, snap.last_update_id)
        return None

    def _on_diff(self, state: SymbolState, ev: DepthEvent, receive_time_ns: int) -> None:
        """One parsed diff event of a book kept from REST snapshots."""
        outcome = state.sync.on_event(ev)
        if outcome is Outcome.APPLIED:
            self._publish(state, ev.event_time, ev.transaction_time, receive_time_ns, ev.final_id)
        elif outcome is Outcome.BUFFERED:
            # Binance's order: stream open and an event buffered first, snapshot after. A
            # snapshot taken before the stream reached us can miss the changes made between
            # it and the stream's first event, and that reads as a gap a moment later.
            self._request_snapshot(state)
        elif outcome is Outcome.NEED_SNAPSHOT:
            log.warning("%s: %s, resyncing this symbol", state.symbol, state.sync.wait_reason)
            self._request_snapshot(state)

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
        if state.sync.publish(self.publisher, state.key, event_time, transaction_time, receive_time_ns, seq):
            state.records += 1
        lag = receive_time_ns // 1_000_000 - event_time
        self._lag_buckets[bisect_left(LAG_BUCKETS_MS, lag)] += 1
        self._lag_sum_ms += lag
        self._lag_count += 1
        self._until_poll -= 1
        if self._until_poll <= 0:
            self._until_poll = self._poll_every
            self.publisher.poll(0)

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

    # -- snapshots: each book's sync task, supervised --------------------------------------------

    def _request_snapshot(self, state: SymbolState) -> None:
        if state.snapshot_task is None or state.snapshot_task.done():
            state.snapshot_task = asyncio.get_running_loop().create_task(self._keep_synced(state))

    async def _keep_synced(self, state: SymbolState) -> None:
        """The book's sync task under supervision (see the module docstring)."""
        attempt = 0
        while True:
            try:
                await self._sync_symbol(state)
            except UnknownSymbol as exc:  # permanent: no restart can fix it
                state.fail(str(exc))
                reason = f"{state.symbol}: {exc}"
                log.error("%s: the book cannot be kept: %s", state.symbol, exc)
                if self._on_fatal is not None:
                    self._on_fatal(reason)
                return
            except Exception as exc:  # noqa: BLE001 - whatever killed it is shown and retried
                state.fail(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
                state.restarts += 1
                delay = full_jitter(attempt, *self._restart_backoff_s)
                attempt += 1
                log.warning(
                    "%s: book sync task failed (%s), restart %d in %.2f s",
                    state.symbol,
                    state.failure,
                    state.restarts,
                    delay,
                    exc_info=None if isinstance(exc, SNAPSHOT_ERRORS) else exc,  # the venue's, or a bug's
                )
                await asyncio.sleep(delay)
            else:
                state.failure = None
                return

    async def _sync_symbol(self, state: SymbolState) -> None:
        sync = state.sync
        while not sync.live:
            snap = await self._fetch_snapshot(state.symbol)

            def emit(ev: DepthEvent, state: SymbolState = state) -> None:
                self._publish(state, ev.event_time, ev.transaction_time, ev.receive_time_ns, ev.final_id)

            outcome = sync.on_snapshot(snap, emit)
            if outcome is Outcome.NEED_SNAPSHOT:
                # Older than the buffered stream (or a gap inside the buffer): ask again shortly.
                log.info("%s: %s, fetching again", state.symbol, sync.wait_reason)
                await asyncio.sleep(0.2)
            else:
                log.info("%s: book synced at update id %d", state.symbol, snap.last_update_id)
