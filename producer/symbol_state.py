"""One symbol of a book feed (producer/feed.py): its engine, its record key, its counts and its
sync task's failures (SymbolState), and what observability reads of it (BookReport): the book's
state with the reason it is not live, its integrity counters, its records and DLQ frames."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass

from producer.book_states import BookState, BookStatus
from producer.engine import BookCounters, BookEngine
from schemas import record_key


@dataclass(frozen=True, slots=True)
class BookReport:
    """What observability reads of one book: state, integrity counters, records and DLQ frames."""

    status: BookStatus
    counters: BookCounters
    records: int
    dlq: int

    def as_json(self) -> dict[str, object]:
        return {**self.status.as_json(), "records": self.records, "dlq": self.dlq, **asdict(self.counters)}


class SymbolState:
    """One symbol of the feed: its engine (`sync`), its record key, its counts and its sync task
    with that task's failures."""

    __slots__ = (
        "symbol",
        "sync",
        "key",
        "key_text",
        "records",
        "dlq",
        "snapshot_task",
        "failure",
        "failed_since",
        "restarts",
    )

    def __init__(self, exchange: str, symbol: str, sync: BookEngine) -> None:
        self.symbol = symbol
        self.sync = sync
        self.key_text = record_key(exchange, symbol)
        self.key = self.key_text.encode()
        self.records = 0
        self.dlq = 0
        self.snapshot_task: asyncio.Task[None] | None = None
        self.failure: str | None = None  # why the sync task last died, until the book is live again
        self.failed_since = 0.0
        self.restarts = 0

    @property
    def crossed(self) -> int:
        """Records of this symbol whose book was crossed (best bid >= best ask)."""
        return self.sync.crossed

    def fail(self, reason: str) -> None:
        if self.failure is None:
            self.failed_since = time.time()
        self.failure = reason

    def status(self, exchange: str) -> BookStatus:
        sync = self.sync
        if self.failure is not None and not sync.live:
            return BookStatus(
                exchange, self.symbol, BookState.FAILED, self.failed_since, self.failure, self.restarts
            )
        state = sync.state
        reason = None
        if state is not BookState.LIVE:
            waiting = (
                f"{sync.buffered} events buffered, waiting for the snapshot"
                if sync.buffered
                else "no event on the stream yet"
            )
            reason = f"{sync.wait_reason}; {waiting}" if sync.wait_reason else waiting
        return BookStatus(exchange, self.symbol, state, sync.state_since, reason, self.restarts)
