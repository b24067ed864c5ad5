"""The Python book engine, the reference: an exact `OrderBook`, Binance's chain check in Python,
the record built as a dict. The procedure around it (buffering, snapshots, gaps, counters, state)
is the engine contract's (producer/engine.py). It also keeps the books of partial-depth streams
(`on_partial`), which need no procedure, and is what the compiled engine is checked against
(tests/producer/test_producer_native_differential.py).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from producer.book import OrderBook
from producer.engine import BookEngine, Outcome, instrument_fields
from producer.exchanges.spec import BookSnapshot, Continuity, DepthEvent, ExchangeSpec, Instrument
from schemas import SCHEMA_VERSION

if TYPE_CHECKING:
    from producer.publisher import RecordPublisher

__all__ = ["BookSync", "Outcome"]


class BookSync(BookEngine):
    """One symbol's book kept in Python."""

    __slots__ = (
        "book",
        "live",
        "local_id",
        "record_prev_id",
        "record_resynced",
        "stale_events",
        "crossed",
        "_fresh",
        "_spot",
        "_last_published",
        "_exchange",
        "_market",
        "_depth",
        "instrument_fields",
    )
    # Plain attributes here (the contract's read-only properties): the hot path reads them.
    live: bool
    local_id: int
    record_prev_id: int | None
    record_resynced: bool
    stale_events: int
    crossed: int

    def __init__(
        self,
        symbol: str,
        continuity: Continuity,
        max_buffer: int = 100_000,
        *,
        exchange: str | None = None,
        market: str | None = None,
        depth: int = 20,
    ) -> None:
        """`exchange`/`market` are only needed to publish (`create` sets them); a book kept for
        its own sake (the simulator's replay, tests) does without."""
        super().__init__(symbol, max_buffer)
        self.book = OrderBook()
        self.live = False
        self.local_id = 0
        # Filled on every APPLIED outcome: what the record of this book state carries.
        self.record_prev_id = None
        self.record_resynced = False
        self.stale_events = 0
        self.crossed = 0
        self._fresh = False  # no event applied since the last snapshot
        self._spot = continuity is Continuity.FIRST_ID
        self._last_published: int | None = None
        self._exchange = exchange
        self._market = market
        self._depth = depth
        # The normalized instrument (base, quote, kind, contract_size) once the venue's listing
        # is read (use_instrument), else nothing: optional fields.
        self.instrument_fields: dict[str, object] = {}

    @classmethod
    def create(cls, spec: ExchangeSpec, symbol: str, depth: int) -> BookSync:
        return cls(symbol, spec.continuity, exchange=spec.id, market=spec.market, depth=depth)

    @classmethod
    def compiled(cls, spec: ExchangeSpec | None) -> type[BookEngine] | None:
        from producer.native_sync import NativeBookSync  # fails with how to build it when missing

        return NativeBookSync

    def use_instrument(self, instrument: Instrument) -> None:
        self.instrument_fields = instrument_fields(instrument)

    def _step(self, ev: DepthEvent) -> Outcome:
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
        book = self.book
        book.apply(ev.bids, ev.asks)
        self.local_id = ev.final_id
        if book.bounded and book.short_side(self._depth):
            return Outcome.SHALLOW  # the engine contract resyncs: nothing is published
        self.record_prev_id = self._last_published
        self.record_resynced = self._fresh
        self._last_published = ev.final_id
        self._fresh = False
        return Outcome.APPLIED

    def _published_depth(self) -> int:
        return self._depth

    def _load(self, snap: BookSnapshot) -> None:
        self.book.load(snap.bids, snap.asks, snap.depth_limit)
        self.local_id = snap.last_update_id
        self.live = True
        self._fresh = True
        self._last_published = None

    def _clear(self) -> None:
        self.live = False
        self._fresh = False
        self.book.clear()

    def on_partial(self, snap: BookSnapshot) -> Outcome:
        """A partial-depth frame is the whole top N: no procedure, only ordering by update id."""
        if self.live and snap.last_update_id <= self.local_id:
            self.stale_events += 1
            return Outcome.STALE
        self.book.load(snap.bids, snap.asks)
        self.record_prev_id = self.local_id if self.live else None
        self.record_resynced = not self.live
        if not self.live:
            self.syncs += 1
            self.state_since = time.time()
        self.live = True
        self.local_id = snap.last_update_id
        return Outcome.APPLIED

    def publish(
        self,
        publisher: RecordPublisher,
        key: bytes,
        event_time: int,
        transaction_time: int | None,
        receive_time_ns: int,
        seq: int,
    ) -> bool:
        """The top N as floats in a dict, serialized (and sampled for the schema) by the publisher."""
        if self._exchange is None:
            raise TypeError(f"{self.symbol}: a BookSync made without exchange and market cannot publish")
        bid_prices, bid_sizes, ask_prices, ask_sizes = self.book.top(self._depth)
        crossed = bool(bid_prices) and bool(ask_prices) and bid_prices[0] >= ask_prices[0]
        if crossed:
            self.crossed += 1
        record = {
            "schema_version": SCHEMA_VERSION,
            "exchange": self._exchange,
            "market": self._market,
            "symbol": self.symbol,
            "event_time": event_time,
            "transaction_time": transaction_time,
            "receive_time_ns": receive_time_ns,
            "sequence_id": seq,
            "prev_sequence_id": self.record_prev_id,
            "bid_prices": bid_prices,
            "bid_sizes": bid_sizes,
            "ask_prices": ask_prices,
            "ask_sizes": ask_sizes,
            "resynced": self.record_resynced,
            "crossed": crossed,
        }
        if self.instrument_fields:
            record.update(self.instrument_fields)
        return publisher.publish_book(key, record, force_check=self.record_resynced)
