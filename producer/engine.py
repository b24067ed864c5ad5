"""The contract of a book engine: one symbol's order book kept by the exchange's diff-depth
procedure (Binance's "How to manage a local order book correctly").

Two engines implement it: the Python reference (`producer.sync.BookSync`) and the compiled one
(`producer.native_sync.NativeBookSync`, Rust). Everything around the book itself is written here
once, so the two cannot drift: events are buffered until a REST snapshot arrives, the snapshot is
loaded and the buffered events that follow it are applied, a broken chain is a gap (the book is
dropped and this symbol alone waits for a new snapshot), a book whose snapshot was bounded and
that no longer knows the published depth completely is resynced the same way (`Outcome.SHALLOW`,
counted as `depth_resyncs`), and the counters and the state (with the reason and since when) are
kept. An engine supplies the book: load a snapshot, clear it, step one
event onto it (chain check and apply), count stale events and crossed books, and publish the
current top N. An engine may also offer a compiled path that takes whole raw frames of live books
(`frame_path`); frames it does not take go through the Python code, which decides.

Pure logic, no I/O: events and snapshots go in, the caller is told what to do (publish, fetch a
snapshot), which keeps the procedure testable on its own.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol

from producer.book_states import BookState
from producer.exchanges.spec import BookSnapshot, DepthEvent, ExchangeSpec, Instrument

if TYPE_CHECKING:
    from producer.publisher import RecordPublisher


def instrument_fields(instrument: Instrument) -> dict[str, object]:
    """The normalized instrument as orderbook.raw's optional fields, in the order both engines
    write them (after `crossed`): base and quote where the venue lists them, kind, and the
    contract size (null where the venue counts sizes in base units)."""
    fields: dict[str, object] = {
        k: v for k, v in (("base", instrument.base), ("quote", instrument.quote)) if v
    }
    fields["kind"] = instrument.kind
    size = instrument.contract_size
    fields["contract_size"] = float(size) if size is not None else None
    return fields


class Outcome(IntEnum):
    APPLIED = 0  # the book changed: publish it
    BUFFERED = 1  # waiting for a snapshot
    STALE = 2  # already covered by the book (u <= local id): ignored
    NEED_SNAPSHOT = 3  # a gap (or the snapshot was too old): fetch a snapshot for this symbol
    # _step only (on_event and on_snapshot turn it into NEED_SNAPSHOT): the event was applied,
    # but the book came from a bounded snapshot and now knows fewer levels than it publishes
    # completely on a side (producer/book.py, bounded snapshots): nothing is published, resync.
    # 5, not 4: the compiled stream book's CHECKSUM_MISMATCH is 4.
    SHALLOW = 5


@dataclass(frozen=True, slots=True)
class BookCounters:
    """A book's integrity counters (exported as metrics; compared engine against engine)."""

    gaps: int  # broken chains seen while live
    resyncs: int  # snapshots fetched again after a gap or a buffer overflow
    syncs: int  # snapshots successfully applied (the first one included)
    stale_snapshots: int  # snapshots older than the buffered stream, fetched again
    stale_events: int  # events already covered by the book
    buffer_overflows: int  # buffers dropped because the snapshot took too long
    crossed: int  # records whose book was crossed (best bid >= best ask)
    checksum_mismatches: int = 0  # books whose checksum differed from the venue's (then resynced)
    # Books of a bounded snapshot whose known-complete levels fell below the published depth on
    # a side (then resynced: also in `resyncs`).
    depth_resyncs: int = 0


class FramePath(Protocol):
    """A compiled path over whole raw frames (the native engine's `NativeFeed`)."""

    deferred: int  # frames handed back to the Python code
    lag_buckets: list[int]
    lag_sum_ms: int
    lag_count: int

    def on_frame(self, raw: str | bytes, receive_time_ns: int) -> Any:
        """(book index, record bytes) when it updated a book, False for a stale event, None when
        the frame is for the Python code (nothing was changed)."""

    def set_streams(self, streams: list[str]) -> None:
        """Route by these stream names from now on, in the books' order (renamed streams)."""


class BookEngine(ABC):
    """One symbol's book under the diff-depth procedure. Subclasses provide the book."""

    __slots__ = (
        "symbol",
        "_buffer",
        "_max_buffer",
        "gaps",
        "resyncs",
        "syncs",
        "stale_snapshots",
        "buffer_overflows",
        "checksum_mismatches",
        "depth_resyncs",
        "state_since",
        "wait_reason",
    )
    # The exact book (an OrderBook or a NativeBook): levels(side, n), top(n), best_bid(), best_ask().
    book: Any

    def __init__(self, symbol: str, max_buffer: int = 100_000) -> None:
        self.symbol = symbol
        self._buffer: list[DepthEvent] = []
        self._max_buffer = max_buffer
        self.gaps = 0
        self.resyncs = 0
        self.syncs = 0
        self.stale_snapshots = 0
        self.buffer_overflows = 0
        self.checksum_mismatches = 0
        self.depth_resyncs = 0
        self.state_since = time.time()  # when the book last went live or stopped being live
        self.wait_reason = ""  # why it is not live, after a break (empty before the first sync)

    # -- what an engine provides ---------------------------------------------------------------

    @classmethod
    @abstractmethod
    def create(cls, spec: ExchangeSpec, symbol: str, depth: int) -> BookEngine:
        """The engine's book of `symbol` on `spec`'s venue, publishing the top `depth` levels."""

    @classmethod
    def compiled(cls, spec: ExchangeSpec | None) -> type[BookEngine] | None:
        """The compiled engine keeping this engine's books of `spec`'s venue with the same
        records and verdicts (imported here: ImportError says how to build it); None: none."""
        return None

    @classmethod
    def frame_path(
        cls,
        spec: ExchangeSpec,
        streams: Sequence[str],
        books: Sequence[BookEngine],
        lag_bounds: Sequence[int],
    ) -> FramePath | None:
        """A compiled path taking raw frames of `streams[i]` for `books[i]` (None: none)."""
        return None

    def use_instrument(self, instrument: Instrument) -> None:  # noqa: B027 - optional hook
        """The venue's listing of the symbol, given before the first frame: the records carry its
        normalized instrument (`instrument_fields`) from then on, and engines whose books need it
        (sizes in contracts converted to base units) keep it."""

    @property
    @abstractmethod
    def live(self) -> bool: ...

    @property
    @abstractmethod
    def local_id(self) -> int:
        """The update id the book is at."""

    @property
    @abstractmethod
    def record_prev_id(self) -> int | None:
        """The previous record's sequence id, for the record of the last applied event."""

    @property
    @abstractmethod
    def record_resynced(self) -> bool:
        """True when the last applied event was the first after a snapshot."""

    @property
    @abstractmethod
    def stale_events(self) -> int: ...

    @property
    @abstractmethod
    def crossed(self) -> int: ...

    @abstractmethod
    def _step(self, ev: DepthEvent) -> Outcome:
        """Apply ev if it chains onto the book (APPLIED, or SHALLOW when the book then knows fewer
        levels completely than it publishes), else STALE or NEED_SNAPSHOT without changing
        anything."""

    def _shallow_reason(self) -> str:
        """Why the last SHALLOW outcome: the side short of known levels, how many it knows
        within its boundary and the boundary (both engines' books answer `short_side`,
        `known_levels` and `boundary` alike)."""
        book, depth = self.book, self._published_depth()
        side = book.short_side(depth) or "bids"
        boundary = book.boundary(side) or 0
        return (
            f"{book.known_levels(side)} {side} known complete within the snapshot's boundary "
            f"{boundary // 10**8}.{boundary % 10**8:08d}, fewer than the {depth} published"
        )

    def _published_depth(self) -> int:
        """Levels per side the records carry (engines that can return SHALLOW say)."""
        raise NotImplementedError

    @abstractmethod
    def _load(self, snap: BookSnapshot) -> None:
        """Replace the book by the snapshot: live, fresh (no event applied since), at its id."""

    @abstractmethod
    def _clear(self) -> None:
        """Drop the book: not live, not fresh, no levels."""

    @abstractmethod
    def publish(
        self,
        publisher: RecordPublisher,
        key: bytes,
        event_time: int,
        transaction_time: int | None,
        receive_time_ns: int,
        seq: int,
    ) -> bool:
        """Hand the record of the current book to the publisher; False when it went to the DLQ."""

    # -- the procedure, shared -----------------------------------------------------------------

    def on_event(self, ev: DepthEvent) -> Outcome:
        """Apply a diff event (live), or buffer it until the snapshot (not live)."""
        if not self.live:
            buf = self._buffer
            if len(buf) >= self._max_buffer:
                # The snapshot is taking too long: start over rather than grow without bound.
                buf.clear()
                self.buffer_overflows += 1
                self.resyncs += 1
                buf.append(ev)
                self.wait_reason = f"buffer of {self._max_buffer} events overflowed before the snapshot"
                return Outcome.NEED_SNAPSHOT
            buf.append(ev)
            return Outcome.BUFFERED
        outcome = self._step(ev)
        if outcome is Outcome.APPLIED:
            return outcome
        if outcome is Outcome.NEED_SNAPSHOT:
            self.gaps += 1
            self.resyncs += 1
            self._go_waiting([ev], f"sequence gap at U={ev.first_id} after {self.local_id}")
        elif outcome is Outcome.SHALLOW:
            return self._depth_resync([ev])
        return outcome

    def _depth_resync(self, buffered: list[DepthEvent]) -> Outcome:
        """The book no longer knows its published depth completely: drop it and fetch a new
        snapshot (the event that made it short stays buffered, like a gap's)."""
        self.depth_resyncs += 1
        self.resyncs += 1
        self._go_waiting(buffered, self._shallow_reason())
        return Outcome.NEED_SNAPSHOT

    def on_snapshot(self, snap: BookSnapshot, emit: Callable[[DepthEvent], None]) -> Outcome:
        """Resync: load a REST snapshot and apply the buffered events that follow it; `emit` is
        called after each applied event (the book is in that event's state). Returns APPLIED when
        live, NEED_SNAPSHOT when the snapshot is older than the buffered stream or a gap was found
        in the buffer, BUFFERED when no buffered event reaches past the snapshot yet."""
        if self.live:
            return Outcome.STALE  # a late answer to a request made before we got live again
        self._load(snap)
        self.syncs += 1
        self.state_since = time.time()
        self.wait_reason = ""
        pending, self._buffer = self._buffer, []
        applied_any = False
        for i, ev in enumerate(pending):
            outcome = self._step(ev)
            if outcome is Outcome.APPLIED:
                applied_any = True
                emit(ev)
            elif outcome is Outcome.SHALLOW:
                return self._depth_resync(pending[i:])
            elif outcome is Outcome.NEED_SNAPSHOT:
                # A gap after some event applied is a gap; before any, the snapshot is older than
                # the stream (fetched again, not counted as a sync).
                if applied_any:
                    self.gaps += 1
                    self.resyncs += 1
                    reason = f"sequence gap at U={ev.first_id} in the buffered events"
                else:
                    self.stale_snapshots += 1
                    self.syncs -= 1
                    reason = f"snapshot {snap.last_update_id} older than the stream"
                self._go_waiting(pending[i:], reason)
                return Outcome.NEED_SNAPSHOT
        return Outcome.APPLIED if applied_any else Outcome.BUFFERED

    def _go_waiting(self, buffered: list[DepthEvent], reason: str) -> None:
        self._clear()
        self._buffer = buffered
        self.state_since = time.time()
        self.wait_reason = reason

    # -- what observability reads --------------------------------------------------------------

    @property
    def buffered(self) -> int:
        """Events waiting for the snapshot."""
        return len(self._buffer)

    @property
    def state(self) -> BookState:
        """LIVE, or SYNCING before the first snapshot, RESYNCING after a break (FAILED is the
        supervisor's: the engine does not know about its task)."""
        if self.live:
            return BookState.LIVE
        return BookState.RESYNCING if self.syncs or self.resyncs else BookState.SYNCING

    def counters(self) -> BookCounters:
        return BookCounters(
            gaps=self.gaps,
            resyncs=self.resyncs,
            syncs=self.syncs,
            stale_snapshots=self.stale_snapshots,
            stale_events=self.stale_events,
            buffer_overflows=self.buffer_overflows,
            crossed=self.crossed,
            checksum_mismatches=self.checksum_mismatches,
            depth_resyncs=self.depth_resyncs,
        )
