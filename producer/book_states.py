"""The state of each book a producer keeps, and how `obm status` reads it.

A book is `live` (in sync, publishing), `syncing` (before its first snapshot: waiting for the
stream's first event, then for the snapshot), `resyncing` (after a gap, a buffer overflow or a
snapshot older than the stream) or `failed` (its sync task died: it is restarted with backoff, or,
for a permanent error such as a symbol the venue does not know, the producer stops with the
reason). The producer serves these as JSON on `/books` and as the gauge
`obm_producer_book_state` (producer/observability.py).

This module imports nothing heavy, so `obm status` can ask a running producer cheaply.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import asdict, dataclass
from enum import StrEnum

from producer.circuit_breaker import BreakerReport, CircuitState

BOOKS_PATH = "/books"


class BookState(StrEnum):
    LIVE = "live"
    SYNCING = "syncing"
    RESYNCING = "resyncing"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class BookStatus:
    """One book as an operator sees it: its state, since when (Unix seconds), why it is not live
    (None when live), and how often its sync task was restarted after dying."""

    exchange: str
    symbol: str
    state: BookState
    since: float
    reason: str | None
    restarts: int

    def as_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> BookStatus:
        return cls(
            exchange=str(data["exchange"]),
            symbol=str(data["symbol"]),
            state=BookState(str(data["state"])),
            since=float(data["since"]),  # type: ignore[arg-type]
            reason=None if data.get("reason") is None else str(data["reason"]),
            restarts=int(data["restarts"]),  # type: ignore[call-overload]
        )

    def describe(self, now: float | None = None) -> str:
        """One line: `ETHUSDT failed for 12 s (3 restarts): HTTP 500 ...`."""
        seconds = max(0.0, (time.time() if now is None else now) - self.since)
        restarts = f" ({self.restarts} restarts)" if self.restarts else ""
        reason = f": {self.reason}" if self.reason else ""
        return f"{self.symbol} {self.state.value} for {seconds:.0f} s{restarts}{reason}"


def _fetch(base_url: str, timeout_s: float) -> dict[str, list[dict[str, object]]]:
    with urllib.request.urlopen(f"{base_url.rstrip('/')}{BOOKS_PATH}", timeout=timeout_s) as resp:
        body: dict[str, list[dict[str, object]]] = json.loads(resp.read())
    return body


def fetch_books(base_url: str, timeout_s: float = 2.0) -> list[BookStatus]:
    """Every book of the producer serving `base_url` (its metrics port). Raises OSError (or
    ValueError on a malformed answer) when the producer does not answer as expected."""
    return [BookStatus.from_json(item) for item in _fetch(base_url, timeout_s)["books"]]


def not_live_report(base_url: str) -> tuple[bool, list[str]]:
    """What `obm status` shows under the producer: (False when a book failed or the producer could
    not be asked, else True; one line per book that is not live, or why it could not be asked).
    A book syncing or resyncing is listed without making the producer unhealthy: it is on its way.
    Then one line per circuit breaker that is not closed (producer/circuit_breaker.py); an open one
    makes the producer unhealthy (that connection or its REST client is not trying)."""
    try:
        body = _fetch(base_url, 2.0)
        books = [BookStatus.from_json(item) for item in body["books"]]
        circuits = [BreakerReport.from_json(item) for item in body.get("circuits", [])]
    except (OSError, ValueError, KeyError) as exc:
        return False, [f"books unknown: {base_url}{BOOKS_PATH}: {exc}"]
    now = time.time()
    not_live = [b for b in books if b.state is not BookState.LIVE]
    notes = [b.describe(now) for b in not_live]
    notes += [c.describe(now) for c in circuits if c.state is not CircuitState.CLOSED]
    ok = all(b.state is not BookState.FAILED for b in not_live) and all(
        c.state is not CircuitState.OPEN for c in circuits
    )
    return ok, notes
