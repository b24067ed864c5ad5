"""The compiled book engine: `obm_book_native` (Rust, producer/native) holds each symbol's exact
book and live sync state, and its `NativeFeed` takes a live book's raw frames end to end (scan,
validate, chain check, apply, top-N record JSON) in one call. This module is its Python side: the
engine contract (producer/engine.py) over a native book, for everything the compiled path hands
back.

Why the split: per-frame, per-level work in CPython costs ~30-40 µs per real 31-level frame
(docs/benchmarks.md); in Rust it is ~2 µs. The rare paths (waiting for a snapshot, buffering,
a gap, the first event after a snapshot, any frame the native scanner does not accept) stay in
Python and run the reference code (`parse_diff` and the contract's procedure), so the DLQ reasons
and the procedure are the reference's own. tests/producer/test_producer_native_* check native ==
Python record for record and verdict for verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from producer.engine import BookEngine, FramePath, Outcome, instrument_fields
from producer.exchanges.spec import BookSnapshot, Continuity, DepthEvent, ExchangeSpec, Instrument
from schemas import SCHEMA_VERSION

if TYPE_CHECKING:
    from producer.publisher import RecordPublisher

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


def record_tail(fields: dict[str, object]) -> bytes:
    """Extra members at the record's end exactly as orjson writes them after `crossed` in the
    Python record (`,"base":"ETH",...`; empty for none): the Rust writer appends it as is."""
    if not fields:
        return b""
    return b"," + orjson.dumps(fields)[1:-1]


class NativeBookSync(BookEngine):
    """One symbol's book in Rust: same outcomes, counters and record bytes as BookSync."""

    __slots__ = ("core", "book")

    def __init__(self, core: Any, max_buffer: int = 100_000) -> None:
        super().__init__(core.symbol, max_buffer)
        self.core = core
        self.book = core  # top/levels/best_bid/best_ask/is_crossed/side_len/size_at like OrderBook

    @classmethod
    def create(cls, spec: ExchangeSpec, symbol: str, depth: int) -> NativeBookSync:
        spot = spec.continuity is Continuity.FIRST_ID
        prefix = record_prefix(spec.id, spec.market, symbol, SCHEMA_VERSION)
        return cls(NativeBook(symbol, spot, depth, prefix))

    @classmethod
    def frame_path(
        cls,
        spec: ExchangeSpec,
        streams: Sequence[str],
        books: Sequence[BookEngine],
        lag_bounds: Sequence[int],
    ) -> FramePath:
        cores = [book.core for book in books if isinstance(book, NativeBookSync)]
        assert len(cores) == len(books), "the native frame path keeps native books only"
        futures = spec.continuity is Continuity.PREV_FINAL_ID
        return NativeFeed(list(streams), cores, futures, list(lag_bounds))  # type: ignore[no-any-return]

    def use_instrument(self, instrument: Instrument) -> None:
        """Serialized once here; every record then ends with it at no cost per frame."""
        self.core.set_tail(record_tail(instrument_fields(instrument)))

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

    @property
    def crossed(self) -> int:
        return int(self.core.crossed)

    def _step(self, ev: DepthEvent) -> Outcome:
        bid_prices, bid_sizes = columns(ev.bids)
        ask_prices, ask_sizes = columns(ev.asks)
        return Outcome(
            self.core.step(
                ev.first_id, ev.final_id, ev.prev_final_id, bid_prices, bid_sizes, ask_prices, ask_sizes
            )
        )

    def _published_depth(self) -> int:
        return int(self.core.depth)

    def _load(self, snap: BookSnapshot) -> None:
        core = self.core
        core.load(*columns(snap.bids), *columns(snap.asks), snap.depth_limit)
        core.local_id = snap.last_update_id
        core.live = True
        core.fresh = True
        core.last_published = None

    def _clear(self) -> None:
        core = self.core
        core.live = False
        core.fresh = False
        core.clear()

    def publish(
        self,
        publisher: RecordPublisher,
        key: bytes,
        event_time: int,
        transaction_time: int | None,
        receive_time_ns: int,
        seq: int,
    ) -> bool:
        """The native book serializes the record (and counts crossed books)."""
        payload, _ = self.core.record(event_time, transaction_time, receive_time_ns, seq)
        return publisher.publish_book_json(key, payload, force_check=self.record_resynced)
