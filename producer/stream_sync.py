"""The book engine of venues that send the book in the stream (OKX `books`, Bybit `orderbook.N`):
after a subscription the venue sends the whole book (a snapshot message), then updates, each
naming the sequence id it follows; some add a checksum of the top levels.

The procedure, per book (the engine contract's, producer/engine.py, with the snapshot coming from
the stream instead of REST):

- a snapshot message replaces the book and is published (`resynced`, no previous id), unless the
  book is live at that sequence id or later: a venue resending the book (a reconnect that missed
  nothing, Bybit repeating a snapshot) yields no repeated or out-of-order record; a snapshot
  that says the venue restarted its sequence (`reset`: Bybit's u == 1) replaces a book at a
  higher id;
- an update applies when its previous id is the book's id; an update already covered (its id at
  or below the book's) is a resend and ignored; any other is a broken chain;
- after applying, the checksum (when the venue sends one, non-zero) is computed over the venue's
  own price and size strings of the top levels, kept beside the exact book, and must equal the
  one sent;
- a broken chain or a checksum mismatch drops this book alone (nothing of the bad state is
  published) and the feed resubscribes its stream (`producer/stream_feed.py`): the venue then
  sends a fresh snapshot. Updates arriving meanwhile are of no use and dropped.

Sizes: base units in the record (the ContractBook; contracts converted by the instrument's
contract size, see producer/contract_sync.py).

The procedure is written once (`StreamProcedure`) for the two engines that keep these books: the
Python reference here, and the compiled one (producer/native_stream_sync.py), which supplies the
same few steps over its Rust book.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

from producer.contract_sync import ContractBookSync
from producer.engine import BookEngine, Outcome
from producer.exchanges.spec import BookSnapshot, DepthEvent, ExchangeSpec

Checksum = Callable[[list[tuple[str, str]], list[tuple[str, str]]], int]


class StreamProcedure(BookEngine):
    """The procedure of a book snapshotted in the stream (see the module docstring), over the
    steps an engine supplies: `_step` (chain, apply, checksum; the reason of a refusal in
    `_break`), `_load`, `_clear`, `_checksum_ok`, `_count_stale`, `_published_snapshot`."""

    __slots__ = ()
    _break: str  # why the last step refused the event (a slot of each engine)

    def on_event(self, ev: DepthEvent) -> Outcome:
        if not self.live:
            return Outcome.BUFFERED  # before the (re)subscription's snapshot: nothing to apply to
        outcome = self._step(ev)
        if outcome is Outcome.NEED_SNAPSHOT:
            if self._break.startswith("checksum"):
                self.checksum_mismatches += 1
            else:
                self.gaps += 1
            self.resyncs += 1
            self._go_waiting([], self._break)
        return outcome

    def on_stream_snapshot(self, snap: BookSnapshot) -> Outcome:
        """The venue's whole book: APPLIED (publish it), STALE (a book we already have), or
        NEED_SNAPSHOT (its checksum does not match: subscribe again)."""
        local = self.local_id
        if self.live and (snap.last_update_id == local or (snap.last_update_id < local and not snap.reset)):
            self._count_stale()
            return Outcome.STALE
        self._load(snap)
        if not self._checksum_ok(snap.checksum):
            self.checksum_mismatches += 1
            self.resyncs += 1
            self._go_waiting([], f"checksum mismatch in the snapshot at sequence id {snap.last_update_id}")
            return Outcome.NEED_SNAPSHOT
        self.syncs += 1
        self.state_since = time.time()
        self.wait_reason = ""
        self._published_snapshot(snap.last_update_id)
        return Outcome.APPLIED

    @abstractmethod
    def _checksum_ok(self, sent: int | None) -> bool:
        """True when the venue sent none (None, or 0: OKX's value since it deprecated the field)
        or it equals the checksum of the book's top levels over the venue's strings."""

    @abstractmethod
    def _count_stale(self) -> None:
        """One more message already covered by the book."""

    @abstractmethod
    def _published_snapshot(self, seq: int) -> None:
        """The loaded snapshot is published: its record has no previous id and is `resynced`."""


class StreamBookSync(StreamProcedure, ContractBookSync):
    """One book of a venue with snapshots in the stream, sequence ids and optional checksums."""

    __slots__ = ("_bid_texts", "_ask_texts", "_checksum", "_checksum_depth", "_break")

    def __init__(self, symbol: str, spec: ExchangeSpec, depth: int = 20) -> None:
        super().__init__(symbol, spec.continuity, exchange=spec.id, market=spec.market, depth=depth)
        self._bid_texts: dict[int, tuple[str, str]] = {}  # price -> (price, size) as the venue wrote them
        self._ask_texts: dict[int, tuple[str, str]] = {}
        self._checksum: Checksum | None = spec.checksum
        self._checksum_depth = spec.checksum_depth
        self._break = ""  # why the last step refused the event

    @classmethod
    def create(cls, spec: ExchangeSpec, symbol: str, depth: int) -> StreamBookSync:
        return cls(symbol, spec, depth)

    @classmethod
    def compiled(cls, spec: ExchangeSpec | None) -> type[BookEngine] | None:
        if spec is None or spec.native_protocol is None:
            return None
        from producer.native_stream_sync import NativeStreamBookSync  # says how to build it when missing

        return NativeStreamBookSync

    # -- updates -------------------------------------------------------------------------------

    def _step(self, ev: DepthEvent) -> Outcome:
        local = self.local_id
        if ev.prev_final_id != local or ev.final_id == local:
            if ev.final_id <= local:
                self.stale_events += 1  # a resend, or the venue's no-change message (id == previous)
                return Outcome.STALE
            self._break = (
                f"sequence break: update {ev.final_id} follows {ev.prev_final_id}, the book is at {local}"
            )
            return Outcome.NEED_SNAPSHOT
        self.book.apply(ev.bids, ev.asks)
        self._apply_texts(ev.bids, ev.asks, ev.texts)
        if not self._checksum_ok(ev.checksum):
            self._break = f"checksum mismatch at sequence id {ev.final_id}"
            return Outcome.NEED_SNAPSHOT
        self.local_id = ev.final_id
        self.record_prev_id = self._last_published
        self.record_resynced = self._fresh
        self._last_published = ev.final_id
        self._fresh = False
        return Outcome.APPLIED

    # -- snapshots -----------------------------------------------------------------------------

    def _count_stale(self) -> None:
        self.stale_events += 1

    def _published_snapshot(self, seq: int) -> None:
        self.record_prev_id = None
        self.record_resynced = True
        self._last_published = seq
        self._fresh = False

    def _load(self, snap: BookSnapshot) -> None:
        super()._load(snap)
        self._bid_texts.clear()
        self._ask_texts.clear()
        self._apply_texts(snap.bids, snap.asks, snap.texts)

    def _clear(self) -> None:
        super()._clear()
        self._bid_texts.clear()
        self._ask_texts.clear()

    # -- checksums over the venue's strings ----------------------------------------------------

    def _apply_texts(self, bids: Any, asks: Any, texts: tuple[Any, Any] | None) -> None:
        if self._checksum is None or texts is None:
            return
        for side, levels, raw in ((self._bid_texts, bids, texts[0]), (self._ask_texts, asks, texts[1])):
            prices, sizes = (
                levels
                if type(levels) is tuple
                else (
                    [p for p, _ in levels],
                    [s for _, s in levels],
                )
            )
            for price, size, text in zip(prices, sizes, raw, strict=True):
                if size:
                    side[price] = (text[0], text[1])
                else:
                    side.pop(price, None)

    def _checksum_ok(self, sent: int | None) -> bool:
        if not sent or self._checksum is None:
            return True
        bid_prices, ask_prices = self.book.top_prices(self._checksum_depth)
        bids = list(map(self._bid_texts.__getitem__, bid_prices))
        asks = list(map(self._ask_texts.__getitem__, ask_prices))
        return self._checksum(bids, asks) == sent


class SnapshotStreamSync(StreamBookSync):
    """A book of a venue that sends only whole books, never updates (Hyperliquid's l2Book), with
    the venue's time as the sequence id: a book newer than the last one published is a record,
    chained to it (`prev_sequence_id`, `resynced` only on the first); one at or before it (a
    repeated snapshot, a reconnect's first book, an out-of-order message) is stale and publishes
    nothing, so a venue that resends never yields a repeated or out-of-order record."""

    __slots__ = ()

    @classmethod
    def compiled(cls, spec: ExchangeSpec | None) -> type[BookEngine] | None:
        if spec is None or spec.native_protocol is None:
            return None
        from producer.native_stream_sync import NativeSnapshotStreamSync

        return NativeSnapshotStreamSync

    def on_stream_snapshot(self, snap: BookSnapshot) -> Outcome:
        return self.on_partial(snap)
