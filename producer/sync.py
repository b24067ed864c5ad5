"""Keeps one symbol's local book in sync with the exchange by Binance's published procedure.

Pure logic (no I/O): events and snapshots go in, the caller is told what to do (publish, fetch a
snapshot). That keeps the procedure testable on its own and the same for live feeds, replays
and the simulator's own checks.

States: WAITING (events are buffered until a REST snapshot arrives) and LIVE (events are applied
when they chain onto the local update id). A broken chain is a gap: the book is dropped, the
symbol alone goes back to WAITING and the caller fetches a new snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import IntEnum
from typing import Protocol

from producer.book import OrderBook
from producer.exchanges.spec import BookSnapshot, Continuity, DepthEvent


class Outcome(IntEnum):
    APPLIED = 0  # the book changed: publish it
    BUFFERED = 1  # waiting for a snapshot
    STALE = 2  # already covered by the book (u <= local id): ignored
    NEED_SNAPSHOT = 3  # a gap (or the snapshot was too old): fetch a snapshot for this symbol


class _BufferedSync(Protocol):
    """What `apply_buffered` needs of a book synchroniser (BookSync, native_sync.NativeBookSync)."""

    gaps: int
    resyncs: int
    stale_snapshots: int
    syncs: int

    def _step(self, ev: DepthEvent) -> Outcome: ...
    def _go_waiting(self, buffered: list[DepthEvent]) -> None: ...


def apply_buffered(
    sync: _BufferedSync, pending: list[DepthEvent], emit: Callable[[DepthEvent], None]
) -> Outcome:
    """Apply the events buffered while a snapshot was fetched, right after loading it. A gap after
    some event applied is a gap (resync); a gap before any is a snapshot older than the stream (not
    counted as a sync). Shared by the Python and the native synchroniser so the two cannot drift."""
    applied_any = False
    for i, ev in enumerate(pending):
        outcome = sync._step(ev)
        if outcome is Outcome.APPLIED:
            applied_any = True
            emit(ev)
        elif outcome is Outcome.NEED_SNAPSHOT:
            if applied_any:
                sync.gaps += 1
                sync.resyncs += 1
            else:
                sync.stale_snapshots += 1
                sync.syncs -= 1
            sync._go_waiting(pending[i:])
            return Outcome.NEED_SNAPSHOT
    return Outcome.APPLIED if applied_any else Outcome.BUFFERED


class BookSync:
    """The diff-depth procedure for one symbol."""

    __slots__ = (
        "symbol",
        "book",
        "live",
        "local_id",
        "_fresh",
        "_spot",
        "_buffer",
        "_max_buffer",
        "record_prev_id",
        "record_resynced",
        "_last_published",
        "gaps",
        "resyncs",
        "syncs",
        "stale_snapshots",
        "stale_events",
        "buffer_overflows",
    )

    def __init__(self, symbol: str, continuity: Continuity, max_buffer: int = 100_000) -> None:
        self.symbol = symbol
        self.book = OrderBook()
        self.live = False
        self.local_id = 0
        self._fresh = False  # no event applied since the last snapshot
        self._spot = continuity is Continuity.FIRST_ID
        self._buffer: list[DepthEvent] = []
        self._max_buffer = max_buffer
        # Filled on every APPLIED outcome: what the record of this book state carries.
        self.record_prev_id: int | None = None
        self.record_resynced = False
        self._last_published: int | None = None
        # Integrity counters (exported as metrics).
        self.gaps = 0  # broken chains seen while live
        self.resyncs = 0  # snapshots fetched again after a gap or a buffer overflow
        self.syncs = 0  # snapshots successfully applied (the first one included)
        self.stale_snapshots = 0  # snapshots older than the buffered stream, fetched again
        self.stale_events = 0  # events already covered by the book
        self.buffer_overflows = 0

    def on_event(self, ev: DepthEvent) -> Outcome:
        if not self.live:
            buf = self._buffer
            if len(buf) >= self._max_buffer:
                # The snapshot is taking too long: start over rather than grow without bound.
                buf.clear()
                self.buffer_overflows += 1
                self.resyncs += 1
                buf.append(ev)
                return Outcome.NEED_SNAPSHOT
            buf.append(ev)
            return Outcome.BUFFERED
        outcome = self._step(ev)
        if outcome is Outcome.NEED_SNAPSHOT:
            self.gaps += 1
            self.resyncs += 1
            self._go_waiting([ev])
        return outcome

    def _step(self, ev: DepthEvent) -> Outcome:
        """Apply ev if it chains onto the book. Does not change state on a gap."""
        local = self.local_id
        if self._spot:
            if ev.final_id <= local:
                self.stale_events += 1
                return Outcome.STALE
            if ev.first_id > local + 1:
                return Outcome.NEED_SNAPSHOT
        elif self._fresh:
            if ev.final_id < local:
                self.stale_events += 1
                return Outcome.STALE
            if ev.first_id > local:
                return Outcome.NEED_SNAPSHOT
        else:
            if ev.final_id <= local:
                self.stale_events += 1
                return Outcome.STALE
            if ev.prev_final_id != local:
                return Outcome.NEED_SNAPSHOT
        self.book.apply(ev.bids, ev.asks)
        self.local_id = ev.final_id
        self.record_prev_id = self._last_published
        self.record_resynced = self._fresh
        self._last_published = ev.final_id
        self._fresh = False
        return Outcome.APPLIED

    def on_snapshot(self, snap: BookSnapshot, emit: Callable[[DepthEvent], None]) -> Outcome:
        """Load a REST snapshot and apply the buffered events that follow it; `emit` is called
        after each applied event (the book is in that event's state). Returns APPLIED when live,
        NEED_SNAPSHOT when the snapshot is older than the buffered stream or a gap was found in
        the buffer, BUFFERED when no buffered event reaches past the snapshot yet."""
        if self.live:
            return Outcome.STALE  # a late answer to a request made before we got live again
        self.book.load(snap.bids, snap.asks)
        self.local_id = snap.last_update_id
        self.live = True
        self._fresh = True
        self._last_published = None
        self.syncs += 1
        pending, self._buffer = self._buffer, []
        return apply_buffered(self, pending, emit)

    def _go_waiting(self, buffered: list[DepthEvent]) -> None:
        self.live = False
        self._fresh = False
        self.book.clear()
        self._buffer = buffered

    def reset(self) -> None:
        """Forget everything (e.g. the symbol was unsubscribed)."""
        self._go_waiting([])
        self._last_published = None


class PartialSync:
    """Partial-depth streams send the whole top N every 100 ms: no procedure, only ordering."""

    __slots__ = (
        "symbol",
        "book",
        "live",
        "local_id",
        "record_prev_id",
        "record_resynced",
        "stale_events",
        "gaps",
        "resyncs",
        "syncs",
        "stale_snapshots",
        "buffer_overflows",
    )

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.book = OrderBook()
        self.live = False
        self.local_id = 0
        self.record_prev_id: int | None = None
        self.record_resynced = False
        self.stale_events = 0
        self.gaps = self.resyncs = self.syncs = self.stale_snapshots = self.buffer_overflows = 0

    def on_partial(self, snap: BookSnapshot) -> Outcome:
        if self.live and snap.last_update_id <= self.local_id:
            self.stale_events += 1
            return Outcome.STALE
        self.book.load(snap.bids, snap.asks)
        self.record_prev_id = self.local_id if self.live else None
        self.record_resynced = not self.live
        if not self.live:
            self.syncs += 1
        self.live = True
        self.local_id = snap.last_update_id
        return Outcome.APPLIED
