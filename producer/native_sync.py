"""The compiled hot path's Python side: `obm_book_native` (Rust, producer/native) holds each
symbol's exact book and live sync state and handles a live book's frames end to end (scan,
validate, chain check, apply, top-N record JSON) in one call; this module gives it the
interface of `producer.sync.BookSync` for everything else.

Why the split: per-frame, per-level work in CPython costs ~30-40 µs per real 31-level frame
(docs/benchmarks.md); in Rust it is ~2 µs. The rare paths (waiting for a snapshot, buffering,
a gap, the first event after a snapshot, any frame the native scanner does not accept) stay in
Python and run the reference code (`parse_diff`, the procedure below mirrors `BookSync`), so
the DLQ reasons and the procedure are the reference's own. tests/producer/test_producer_native_*
check native == Python record for record and verdict for verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from producer.exchanges.spec import BookSnapshot, Continuity, DepthEvent
from producer.sync import Outcome, apply_buffered

try:
    import obm_book_native as native
except ImportError as exc:  # pragma: no cover - bootstrap builds and installs it
    raise ImportError(
        "the producer's compiled hot path (module obm_book_native, producer/native) is not installed: "
        "run scripts/bootstrap.sh (it builds it with cargo + maturin)"
    ) from exc

NativeBook = native.NativeBook
NativeFeed = native.NativeFeed


def columns(levels: Any) -> tuple[Any, Any]:
    """(price, size) pairs or (prices, sizes) columns -> columns."""
    if type(levels) is tuple:
        return levels
    if not levels:
        return (), ()
    prices, sizes = zip(*levels, strict=True)
    return prices, sizes


def record_prefix(exchange: str, market: str, symbol: str, schema_version: int) -> bytes:
    """The record's constant head exactly as orjson writes it (without the closing brace)."""
    head = orjson.dumps(
        {"schema_version": schema_version, "exchange": exchange, "market": market, "symbol": symbol}
    )
    return head[:-1]


class NativeBookSync:
    """BookSync over a native book: same outcomes, counters and record fields."""

    __slots__ = (
        "symbol",
        "core",
        "book",
        "_buffer",
        "_max_buffer",
        "gaps",
        "resyncs",
        "syncs",
        "stale_snapshots",
        "buffer_overflows",
    )

    def __init__(self, core: Any, max_buffer: int = 100_000) -> None:
        self.symbol: str = core.symbol
        self.core = core
        self.book = core  # top/levels/best_bid/best_ask/is_crossed/side_len/size_at like OrderBook
        self._buffer: list[DepthEvent] = []
        self._max_buffer = max_buffer
        self.gaps = 0
        self.resyncs = 0
        self.syncs = 0
        self.stale_snapshots = 0
        self.buffer_overflows = 0

    @classmethod
    def create(
        cls, exchange: str, market: str, symbol: str, continuity: Continuity, depth: int, schema_version: int
    ) -> NativeBookSync:
        spot = continuity is Continuity.FIRST_ID
        prefix = record_prefix(exchange, market, symbol, schema_version)
        return cls(NativeBook(symbol, spot, depth, prefix))

    @property
    def live(self) -> bool:
        return bool(self.core.live)

    @property
    def local_id(self) -> int:
        return int(self.core.local_id)

    @property
    def record_prev_id(self) -> int | None:
        return self.core.record_prev_id  # type: ignore[no-any-return]

    @property
    def record_resynced(self) -> bool:
        return bool(self.core.record_resynced)

    @property
    def stale_events(self) -> int:
        return int(self.core.stale_events)

    def on_event(self, ev: DepthEvent) -> Outcome:
        if not self.core.live:
            buf = self._buffer
            if len(buf) >= self._max_buffer:
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
        bid_prices, bid_sizes = columns(ev.bids)
        ask_prices, ask_sizes = columns(ev.asks)
        return Outcome(
            self.core.step(
                ev.first_id, ev.final_id, ev.prev_final_id, bid_prices, bid_sizes, ask_prices, ask_sizes
            )
        )

    def on_snapshot(self, snap: BookSnapshot, emit: Callable[[DepthEvent], None]) -> Outcome:
        """As BookSync.on_snapshot."""
        core = self.core
        if core.live:
            return Outcome.STALE
        core.load(*columns(snap.bids), *columns(snap.asks))
        core.local_id = snap.last_update_id
        core.live = True
        core.fresh = True
        core.last_published = None
        self.syncs += 1
        pending, self._buffer = self._buffer, []
        return apply_buffered(self, pending, emit)

    def _go_waiting(self, buffered: list[DepthEvent]) -> None:
        core = self.core
        core.live = False
        core.fresh = False
        core.clear()
        self._buffer = buffered

    def reset(self) -> None:
        self._go_waiting([])
        self.core.last_published = None
