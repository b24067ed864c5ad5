"""What the simulated venues speaking text frames share (OKX, Bybit, Gate.io; Hyperliquid's book
and sessions too): numbers written as the venues write them, a client session that sends one
message at a time, a book kept as the venue sends it ({price text: size text} per side), and the
WebSocket endpoint that registers a session while it is open and hands it every text frame.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

from aiohttp import WSMsgType, web

from producer.book import SCALE
from producer.simulator.market_model import SymbolModel


def okx_text(value: int) -> str:
    """Fixed point -> the shortest decimal string, as OKX writes numbers ("60000.1", "3"), and
    Bybit, Gate.io and Hyperliquid with it."""
    whole, frac = divmod(value, SCALE)
    return f"{whole}.{frac:08d}".rstrip("0").rstrip(".")


class TextSession:
    """A client of a venue speaking text frames, and the books it is subscribed to."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.books: set[str] = set()
        self.trades: set[str] = set()  # the trade streams it is subscribed to
        self.lock = asyncio.Lock()  # one message at a time: a snapshot is never overtaken
        self.sent = 0

    async def send(self, payload: bytes | str) -> None:
        async with self.lock:
            if self.ws.closed:
                return
            try:
                await self.ws.send_str(payload.decode() if isinstance(payload, bytes) else payload)
                self.sent += 1
            except (ConnectionError, RuntimeError):
                pass  # the client went away; its handler cleans up


class TextBook:
    """A book as a venue sends it: {price text: size text} per side, from its market model's
    levels (`size_text` writes a model size as the venue counts it: base units, or contracts)."""

    def __init__(self, model: SymbolModel, size_text: Callable[[int], str] = okx_text) -> None:
        self.model = model
        self._size_text = size_text
        self.bids = {okx_text(p): size_text(s) for p, s in model.book.levels("bids")}
        self.asks = {okx_text(p): size_text(s) for p, s in model.book.levels("asks")}

    def step(self) -> tuple[list[list[str]], list[list[str]]]:
        """Step the market model once: its changed [price, size] levels per side, as the venue
        writes them (not applied yet)."""
        _, _, bid_changes, ask_changes = self.model.step()
        return (
            [[okx_text(p), self._size_text(s)] for p, s in bid_changes.items()],
            [[okx_text(p), self._size_text(s)] for p, s in ask_changes.items()],
        )

    def apply(self, bids: list[list[str]], asks: list[list[str]]) -> None:
        """Set each [price, size] level; a zero size removes the level."""
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for price, size in levels:
                if Decimal(size) == 0:
                    side.pop(price, None)
                else:
                    side[price] = size

    def top(self, side: str, n: int) -> list[list[str]]:
        """The best `n` levels of a side, best first, as [price, size]."""
        book = self.bids if side == "bids" else self.asks
        pick = heapq.nlargest if side == "bids" else heapq.nsmallest
        return [[p, book[p]] for p in pick(n, book, key=Decimal)]


async def serve_text_session(
    request: web.Request,
    sessions: dict[TextSession, str],
    endpoint: str,
    on_text: Callable[[TextSession, str], Awaitable[None]],
) -> web.WebSocketResponse:
    """Accept a client's WebSocket, keep its session in `sessions` (with the `endpoint` it came
    to: a market or category) while it is open, and hand every text frame to `on_text`."""
    ws = web.WebSocketResponse(compress=False, max_msg_size=1 << 20)
    await ws.prepare(request)
    session = TextSession(ws)
    sessions[session] = endpoint
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await on_text(session, msg.data)
    finally:
        sessions.pop(session, None)
    return ws


async def close_sessions(sessions: list[TextSession]) -> None:
    """Close these clients' connections (they reconnect and subscribe again)."""
    for session in sessions:
        await session.ws.close()


class TextVenue:
    """What a simulated venue with WebSocket endpoints of its own keeps (OKX, Bybit, Gate.io):
    its models' pace, whether they move, its clients' sessions and how many subscriptions it
    served."""

    def __init__(self, updates_per_second: float) -> None:
        self.rate = updates_per_second
        self.auto = True  # step the market models; off: only `push` changes the books
        self.sessions: dict[TextSession, str] = {}  # session -> the endpoint it came to
        self.subscribes = 0

    async def close(self) -> None:
        await close_sessions(list(self.sessions))

    async def disconnect(self) -> None:
        """Close every connection to this venue (clients reconnect and subscribe again)."""
        await self.close()


async def model_ticks(rate: float, is_stopping: Callable[[], bool]) -> AsyncIterator[None]:
    """The market models' pace: a tick every 1/`rate` seconds (every 10 ms at rate 0) until the
    simulator stops."""
    interval = 1.0 / rate if rate > 0 else 0.01
    while not is_stopping():
        await asyncio.sleep(interval)
        yield
