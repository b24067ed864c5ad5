"""Bybit v5's public WebSocket and instruments REST, simulated: `/v5/public/{spot,linear,inverse}`
and `/v5/market/instruments-info`, for the simulator's symbols (spot: all of them; linear: those
quoted in USDT or USDC; inverse: those quoted in USD).

WebSocket: `{"op": "ping"}` is answered with a pong message; `{"op": "subscribe"|"unsubscribe",
"args": ["orderbook.50.BTCUSDT", ...]}` with one answer per request (`success` false for an
unknown topic), and a subscription gets the book (`type: "snapshot"`), then every change as a
`delta` with `u` one more than the previous and a growing `seq`. `publicTrade.{symbol}` gets a
push of the fills of every step of the market model (its market orders taking levels), after
the book's delta. Simplifications: the snapshot
carries the whole simulated book, not only its top 50, and deltas are not cut to the top 50.

Changes come from the market model (its sizes read as contracts of 1 USD on inverse books), or,
with `auto` off, only from `push` (tests). Tests can also lose a delta (`drop`), restart the
sequence (`restart`: a snapshot with u == 1, as after a restart of Bybit's service) and repeat
the current snapshot (`resend_snapshot`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from producer.simulator.market_model import SymbolModel
from producer.simulator.text_venue import (
    TextBook,
    TextSession,
    TextVenue,
    model_ticks,
    okx_text,
    serve_text_session,
)

CATEGORIES = ("spot", "linear", "inverse")


def categories_of(symbol: str) -> list[str]:
    if "-" in symbol or "_" in symbol:
        return []
    if symbol.endswith(("USDT", "USDC")):
        return ["spot", "linear"]
    if symbol.endswith("USD"):
        return ["spot", "inverse"]
    return ["spot"]


class BybitBook(TextBook):
    def __init__(self, category: str, symbol: str, model: SymbolModel) -> None:
        super().__init__(model)
        self.category, self.symbol = category, symbol
        self.topic = f"orderbook.50.{symbol}"
        self.trade_topic = f"publicTrade.{symbol}"
        self.u = 1000 + model.rng.randrange(10**6)
        self.seq = 10**9 + model.rng.randrange(10**6)

    def message(self, kind: str, bids: list[list[str]], asks: list[list[str]]) -> bytes:
        now = time.time_ns() // 10**6
        data = {"s": self.symbol, "b": bids, "a": asks, "u": self.u, "seq": self.seq}
        return orjson.dumps({"topic": self.topic, "type": kind, "ts": now, "data": data, "cts": now - 1})

    def trades(self, fills: list[tuple[int, int, int, str]]) -> bytes:
        """The publicTrade push of one step's fills. Trade ids are digits on spot and UUIDs on
        contracts, as Bybit's (here the model's trade number in either form)."""
        now = time.time_ns() // 10**6
        data = [
            {"T": now, "s": self.symbol, "S": "Buy" if aggressor == "buy" else "Sell", "v": okx_text(size),
             "p": okx_text(price), "L": "ZeroPlusTick",
             "i": str(trade_id) if self.category == "spot" else str(uuid.UUID(int=trade_id)), "BT": False}
            for trade_id, price, size, aggressor in fills
        ]  # fmt: skip
        return orjson.dumps({"topic": self.trade_topic, "type": "snapshot", "ts": now, "data": data})

    def snapshot(self) -> bytes:
        return self.message("snapshot", self.top("bids", len(self.bids)), self.top("asks", len(self.asks)))


class BybitVenue(TextVenue):
    def __init__(self, symbols: list[str], seed: int, updates_per_second: float) -> None:
        super().__init__(updates_per_second)  # sessions: session -> its category
        self.books: dict[tuple[str, str], BybitBook] = {}
        for symbol in symbols:
            for category in categories_of(symbol):
                model_name = f"{symbol}T" if category == "inverse" else symbol  # BTCUSD moves like BTCUSDT
                self.books[(category, symbol)] = BybitBook(category, symbol, SymbolModel(model_name, seed))

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v5/public/{category}", self._ws)
        app.router.add_get("/v5/market/instruments-info", self._instruments)

    def _subscribers(self, book: BybitBook, topic: str | None = None) -> list[TextSession]:
        """The sessions of the book's category subscribed to `topic` (default: its orderbook)."""
        topic = topic or book.topic
        return [s for s, c in self.sessions.items() if c == book.category and topic in s.books]

    # -- changes -------------------------------------------------------------------------------

    async def push(
        self, category: str, symbol: str, bids: list[list[str]], asks: list[list[str]], *, drop: bool = False
    ) -> int:
        """Apply one change and send it as a delta (`drop`: nobody gets it); returns its u."""
        book = self.books[(category, symbol)]
        book.apply(bids, asks)
        book.u += 1
        book.seq += 1 + book.model.rng.randrange(5)
        payload = book.message("delta", bids, asks)
        if not drop:
            for session in self._subscribers(book):
                await session.send(payload)
        return book.u

    async def restart(self, category: str, symbol: str) -> int:
        """Bybit's service restarted: the sequence starts again at u == 1, with a snapshot."""
        book = self.books[(category, symbol)]
        book.u = 1
        payload = book.snapshot()
        for session in self._subscribers(book):
            await session.send(payload)
        return book.u

    async def resend_snapshot(self, category: str, symbol: str) -> None:
        book = self.books[(category, symbol)]
        payload = book.snapshot()
        for session in self._subscribers(book):
            await session.send(payload)

    async def send_raw(self, category: str, symbol: str, payload: bytes | str) -> None:
        """Send anything to the book's subscribers (tests: malformed pushes)."""
        for session in self._subscribers(self.books[(category, symbol)]):
            await session.send(payload)

    async def run(self, is_stopping: Callable[[], bool]) -> None:
        async for _ in model_ticks(self.rate, is_stopping):
            if not self.auto:
                continue
            for (category, symbol), book in self.books.items():
                trade_sessions = self._subscribers(book, book.trade_topic)
                if not self._subscribers(book) and not trade_sessions:
                    continue
                await self.push(category, symbol, *book.step())
                if book.model.fills:
                    payload = book.trades(book.model.fills)
                    for session in self._subscribers(book, book.trade_topic):
                        await session.send(payload)

    # -- WebSocket -----------------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        category = request.match_info["category"]
        if category not in CATEGORIES:
            raise web.HTTPNotFound()
        return await serve_text_session(
            request, self.sessions, category, lambda session, text: self._on_message(session, category, text)
        )

    async def _on_message(self, session: TextSession, category: str, text: str) -> None:
        conn_id = f"{id(session):x}"
        try:
            req = orjson.loads(text)
            op = req["op"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await session.send(orjson.dumps({"success": False, "ret_msg": f"invalid request: {text}"}))
            return
        if op == "ping":
            await session.send(
                orjson.dumps({"success": True, "ret_msg": "pong", "conn_id": conn_id, "op": "ping"})
            )
            return
        args = req.get("args") or []
        books = []
        for topic in args:
            symbol = topic.rsplit(".", 1)[-1] if isinstance(topic, str) else ""
            book = self.books.get((category, symbol))
            if (
                book is None
                or topic not in (book.topic, book.trade_topic)
                or op not in ("subscribe", "unsubscribe")
            ):
                answer = {"success": False, "ret_msg": f"error:handler not found,topic:{topic}", "op": op}
                await session.send(orjson.dumps({**answer, "conn_id": conn_id}))
                return
            books.append(book)
        await session.send(orjson.dumps({"success": True, "ret_msg": "", "conn_id": conn_id, "op": op}))
        for topic, book in zip(args, books, strict=True):
            if op == "unsubscribe":
                session.books.discard(topic)
                continue
            if topic == book.trade_topic:
                session.books.add(topic)
                continue
            self.subscribes += 1
            session.books.add(book.topic)  # from here on it gets every delta after this snapshot
            await session.send(book.snapshot())

    # -- REST ----------------------------------------------------------------------------------

    async def _instruments(self, request: web.Request) -> web.Response:
        category = request.query.get("category", "")
        if category not in CATEGORIES:
            return web.json_response({"retCode": 10001, "retMsg": "params error: category", "result": {}})
        listed: list[dict[str, Any]] = []
        for (cat, symbol), _book in self.books.items():
            if cat != category:
                continue
            quote = next(q for q in ("USDT", "USDC", "USD", symbol[-3:]) if symbol.endswith(q))
            entry = {
                "symbol": symbol,
                "status": "Trading",
                "baseCoin": symbol[: -len(quote)],
                "quoteCoin": quote,
            }
            if category != "spot":
                entry["contractType"] = "InversePerpetual" if category == "inverse" else "LinearPerpetual"
            listed.append(entry)
        return web.json_response(
            {"retCode": 0, "retMsg": "OK", "result": {"category": category, "list": listed}}
        )
