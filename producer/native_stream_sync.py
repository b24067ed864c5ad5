"""The compiled engine of the venues that send the book in the stream (OKX `books`, Bybit
`orderbook.N`, Hyperliquid `l2Book`): each book is an `obm_book_native.NativeBook` made for a
stream (sizes in the instrument's units, the venue's texts kept where it checksums them), and
`NativeStreamFeed` takes a live book's update frames end to end (scan, validate, chain check,
apply, CRC32 of the top levels over the venue's strings, top-N record JSON) in one call.

This module is its Python side: the stream procedure (producer/stream_sync.StreamProcedure,
written once for both engines) over a native book, for every frame the compiled path hands back:
snapshots, control messages, trades, anything unusual or invalid, a break, a checksum mismatch, a
book not live. Those run the venue's `parse_message` and this procedure, so DLQ reasons and
resync decisions are the reference's own. tests/producer/test_producer_native_venues.py checks
native == Python record for record, verdict for verdict.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from producer.engine import BookEngine, FramePath, Outcome
from producer.exchanges.spec import BookSnapshot, DepthEvent, ExchangeSpec, Instrument
from producer.native_sync import NativeBook, NativeBookSync, columns, native, record_prefix
from producer.stream_sync import StreamProcedure
from schemas import SCHEMA_VERSION

if TYPE_CHECKING:
    from producer.publisher import RecordPublisher

if not hasattr(native, "NativeStreamFeed"):  # pragma: no cover - a build older than its sources
    raise ImportError(
        "obm_book_native was built from older sources (no NativeStreamFeed): run scripts/bootstrap.sh"
    )
NativeStreamFeed = native.NativeStreamFeed
CHECKSUM_MISMATCH = native.CHECKSUM_MISMATCH  # stream_step: levels applied, the checksum differs


def _texts(texts: tuple[Any, Any] | None) -> tuple[list[str], list[str]]:
    """The venue's (price, size) strings of each level as `price:size` (empty: none sent)."""
    if texts is None:
        return [], []
    return [f"{p}:{s}" for p, s in texts[0]], [f"{p}:{s}" for p, s in texts[1]]


class NativeStreamBookSync(StreamProcedure, NativeBookSync):
    """One book in Rust with StreamBookSync's outcomes, counters and record bytes."""

    __slots__ = ("_break",)

    def __init__(self, core: Any, max_buffer: int = 100_000) -> None:
        super().__init__(core, max_buffer)
        self._break = ""

    @classmethod
    def create(cls, spec: ExchangeSpec, symbol: str, depth: int) -> NativeStreamBookSync:
        prefix = record_prefix(spec.id, spec.market, symbol, SCHEMA_VERSION)
        checksum_depth = spec.checksum_depth if spec.checksum is not None else 0
        return cls(NativeBook(symbol, False, depth, prefix, True, checksum_depth))

    @classmethod
    def frame_path(
        cls,
        spec: ExchangeSpec,
        streams: Sequence[str],
        books: Sequence[BookEngine],
        lag_bounds: Sequence[int],
    ) -> FramePath:
        cores = [book.core for book in books if isinstance(book, NativeStreamBookSync)]
        assert len(cores) == len(books), "the native frame path keeps native books only"
        return NativeStreamFeed(spec.native_protocol, list(streams), cores, list(lag_bounds))  # type: ignore[no-any-return]

    def use_instrument(self, instrument: Instrument) -> None:
        """The units of the book's sizes (contracts are published as base units), and the tail."""
        ratio = instrument.base_size_ratio()
        if ratio is None:
            self.core.set_units("base", 0, 0)
        else:
            self.core.set_units("inverse" if instrument.inverse else "linear", *ratio)
        super().use_instrument(instrument)

    def _step(self, ev: DepthEvent) -> Outcome:
        local = self.core.local_id
        code = self.core.stream_step(
            ev.final_id,
            ev.prev_final_id,
            *columns(ev.bids),
            *columns(ev.asks),
            *_texts(ev.texts),
            ev.checksum,
        )
        if code == CHECKSUM_MISMATCH:
            self._break = f"checksum mismatch at sequence id {ev.final_id}"
            return Outcome.NEED_SNAPSHOT
        outcome = Outcome(code)
        if outcome is Outcome.NEED_SNAPSHOT:
            self._break = (
                f"sequence break: update {ev.final_id} follows {ev.prev_final_id}, the book is at {local}"
            )
        return outcome

    def _load(self, snap: BookSnapshot) -> None:
        core = self.core
        core.load_stream(*columns(snap.bids), *columns(snap.asks), *_texts(snap.texts))
        core.local_id = snap.last_update_id
        core.live = True
        core.fresh = True
        core.last_published = None

    def _checksum_ok(self, sent: int | None) -> bool:
        return bool(self.core.checksum_ok(sent))

    def _count_stale(self) -> None:
        self.core.stale_events += 1

    def _published_snapshot(self, seq: int) -> None:
        self.core.published_snapshot(seq)

    def publish(
        self,
        publisher: RecordPublisher,
        key: bytes,
        event_time: int,
        transaction_time: int | None,
        receive_time_ns: int,
        seq: int,
    ) -> bool:
        """As ContractBook.top: a book whose units are unknown publishes nothing and says why."""
        if not self.core.units_known:
            raise RuntimeError(f"{self.symbol}: instrument unknown: use_instrument was not called")
        return super().publish(publisher, key, event_time, transaction_time, receive_time_ns, seq)


class NativeSnapshotStreamSync(NativeStreamBookSync):
    """A book of whole books only (Hyperliquid's l2Book), ordered by the venue's time: the
    procedure of producer.stream_sync.SnapshotStreamSync (BookSync.on_partial) over a native
    book."""

    __slots__ = ()

    def on_stream_snapshot(self, snap: BookSnapshot) -> Outcome:
        core = self.core
        if core.live and snap.last_update_id <= core.local_id:
            core.stale_events += 1
            return Outcome.STALE
        was_live = core.live
        core.whole_book(snap.last_update_id, *columns(snap.bids), *columns(snap.asks))
        if not was_live:
            self.syncs += 1
            self.state_since = time.time()
        return Outcome.APPLIED
