"""Gate.io's v4 public WebSocket and REST, simulated for spot and USDT futures: `/ws/v4/` and
`/v4/ws/usdt`, `/api/v4/spot/{order_book,currency_pairs}` and
`/api/v4/futures/usdt/{order_book,contracts}`, for the simulator's symbols named like Gate.io's
(`BTC_USDT`: a spot pair, and a USDT contract when quoted in USDT).

WebSocket: `{"time", "channel": "<market>.ping"}` is answered with `<market>.pong`; `{"time",
"channel": "<market>.order_book_update", "event": "subscribe"|"unsubscribe", "payload": [pair,
"100ms"]}` (or `<market>.trades` with payload [pair]) gets an answer with `error` null, or an error object for an unknown pair or channel, a
bad payload or a `time` more than 60 s off (Gate.io's rule). A subscribed book gets every change
as an `update` with `U` (the previous u + 1) and `u` (a notification may stand for several of the
venue's internal updates, so u - U is 0 to 2). No snapshot in the stream: clients fetch
`order_book?...&with_id=true`, whose `id` is the book's update id. Spot levels are [price, size]
strings; futures levels are {"p": price string, "s": integer contracts}. A `<market>.trades`
subscription gets the fills of every step of the market model, after the book's update: one
notification a trade on spot, one list on futures (contracts, negative when the taker sold).

Changes come from each book's market model (futures sizes converted to contracts of the
contract's `quanto_multiplier`), or, with `auto` off, only from `push` (tests craft them, so the
books are known). Tests can also lose a notification (`drop`), send one whose range overlaps the
previous ones (`overlap`: the venue's merged resend, its levels at their current sizes), resend
the last notifications to a new subscription (`resend_on_subscribe`: a reconnect overlap), and
hold the REST answers (`hold`: the book is read when the request arrives and answered when the
event is set, so the updates pushed meanwhile are stale against it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web

from producer.book import SCALE
from producer.simulator.market_model import SymbolModel
from producer.simulator.text_venue import (
    TextBook,
    TextSession,
    TextVenue,
    model_ticks,
    okx_text,
    serve_text_session,
)

MARKETS = ("spot", "futures")
QUOTES = ("USDT", "USDC", "BTC", "ETH")
HISTORY = 50  # notifications kept per book (for overlaps and resends)


def markets_of(symbol: str) -> list[str]:
    base, sep, quote = symbol.partition("_")
    if not sep or not base or quote not in QUOTES:
        return []
    return ["spot", "futures"] if quote == "USDT" else ["spot"]


def quanto_multiplier(symbol: str) -> str:
    """Base units per contract of a USDT contract (Gate.io's: 0.0001 BTC, 0.01 ETH)."""
    return {"BTC": "0.0001", "ETH": "0.01"}.get(symbol.partition("_")[0], "1")


class GateBook(TextBook):
    """One book as Gate.io would send it: {price text: size text} per side (futures sizes are
    integer contract counts), its update id and its last notifications."""

    def __init__(self, market: str, symbol: str, model: SymbolModel) -> None:
        self.market, self.symbol = market, symbol
        self.channel = f"{market}.order_book_update"
        self._multiplier = Decimal(quanto_multiplier(symbol))
        super().__init__(model, self.size_text)
        self.id = 10**6 + model.rng.randrange(10**6)
        self.history: list[tuple[int, int, list[list[str]], list[list[str]]]] = []

    def size_text(self, size: int) -> str:
        """A model size (fixed point, base units) as this book counts it."""
        if self.market == "spot":
            return okx_text(size)
        contracts = int(Decimal(size) / SCALE / self._multiplier)
        return str(max(contracts, 1) if size else 0)

    def _wire(self, levels: list[list[str]]) -> list[Any]:
        if self.market == "spot":
            return levels
        return [{"p": p, "s": int(s)} for p, s in levels]

    def message(self, first: int, last: int, bids: list[list[str]], asks: list[list[str]]) -> bytes:
        now_ms = time.time_ns() // 10**6
        result: dict[str, Any] = {"t": now_ms, "s": self.symbol, "U": first, "u": last}
        if self.market == "spot":
            result.update(e="depthUpdate", E=now_ms // 1000)
        result.update(b=self._wire(bids), a=self._wire(asks))
        return orjson.dumps(
            {
                "time": now_ms // 1000,
                "time_ms": now_ms,
                "channel": self.channel,
                "event": "update",
                "error": None,
                "result": result,
            }
        )

    def trades(self, fills: list[tuple[int, int, int, str]]) -> list[bytes]:
        """The `<market>.trades` notifications of one step's fills: one a trade on spot (its
        `create_time_ms` with a fraction of a ms, as Gate.io's), one list on futures (sizes in
        contracts as the book counts them, negative when the taker sold)."""
        now_ns = time.time_ns()
        now_ms = now_ns // 10**6
        head = {
            "time": now_ms // 1000,
            "time_ms": now_ms,
            "channel": f"{self.market}.trades",
            "event": "update",
        }
        if self.market == "spot":
            return [
                orjson.dumps(
                    {**head, "result": {
                        "id": trade_id, "create_time": now_ms // 1000,
                        "create_time_ms": f"{now_ms}.{now_ns // 100 % 10000:04d}", "side": aggressor,
                        "currency_pair": self.symbol, "amount": okx_text(size), "price": okx_text(price),
                        "range": f"{trade_id}-{trade_id}"}}
                )
                for trade_id, price, size, aggressor in fills
            ]  # fmt: skip
        result = [
            {"size": int(self.size_text(size)) * (1 if aggressor == "buy" else -1), "id": trade_id,
             "create_time": now_ms // 1000, "create_time_ms": now_ms, "price": okx_text(price),
             "contract": self.symbol, "is_internal": False}
            for trade_id, price, size, aggressor in fills
        ]  # fmt: skip
        return [orjson.dumps({**head, "result": result})]

    def snapshot(self, limit: int, with_id: bool) -> dict[str, Any]:
        now_ms = time.time_ns() // 10**6
        stamp: float | int = now_ms if self.market == "spot" else now_ms / 1000
        body: dict[str, Any] = {"id": self.id} if with_id else {}
        body.update(
            current=stamp,
            update=stamp,
            asks=self._wire(self.top("asks", limit)),
            bids=self._wire(self.top("bids", limit)),
        )
        return body


class GateVenue(TextVenue):
    def __init__(self, symbols: list[str], seed: int, updates_per_second: float) -> None:
        super().__init__(updates_per_second)  # sessions: session -> its market
        self.books: dict[tuple[str, str], GateBook] = {}
        for symbol in symbols:
            for market in markets_of(symbol):  # BTC_USDT moves like BTCUSDT
                self.books[(market, symbol)] = GateBook(
                    market, symbol, SymbolModel(symbol.replace("_", ""), seed)
                )
        self.pings = 0
        self.snapshot_requests = 0
        self.resend_on_subscribe = 0
        self.hold: asyncio.Event | None = None

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/ws/v4/", self._ws_spot)
        app.router.add_get("/v4/ws/usdt", self._ws_futures)
        app.router.add_get("/api/v4/spot/order_book", self._order_book_spot)
        app.router.add_get("/api/v4/spot/currency_pairs", self._currency_pairs)
        app.router.add_get("/api/v4/futures/usdt/order_book", self._order_book_futures)
        app.router.add_get("/api/v4/futures/usdt/contracts", self._contracts)

    def _subscribers(self, book: GateBook) -> list[TextSession]:
        return [s for s, m in self.sessions.items() if m == book.market and book.symbol in s.books]

    def _trade_subscribers(self, book: GateBook) -> list[TextSession]:
        return [s for s, m in self.sessions.items() if m == book.market and book.symbol in s.trades]

    # -- changes -------------------------------------------------------------------------------

    async def push(
        self,
        market: str,
        symbol: str,
        bids: list[list[str]],
        asks: list[list[str]],
        *,
        drop: bool = False,
        overlap: int = 0,
    ) -> int:
        """Apply one change and notify it; returns its u. `drop`: nobody gets it; `overlap=k`:
        the notification starts at the U of the k-th last one and carries the levels changed
        since then at their current sizes."""
        book = self.books[(market, symbol)]
        book.apply(bids, asks)
        first = book.id + 1
        book.id += 1 + book.model.rng.randrange(3)
        if overlap:
            merged_bids = {p: s for _, _, b, _ in book.history[-overlap:] for p, s in b}
            merged_asks = {p: s for _, _, _, a in book.history[-overlap:] for p, s in a}
            merged_bids.update(dict(bids))
            merged_asks.update(dict(asks))
            bids = [[p, book.bids.get(p, "0")] for p in merged_bids]
            asks = [[p, book.asks.get(p, "0")] for p in merged_asks]
            first = book.history[-overlap][0]
        book.history = [*book.history[-HISTORY + 1 :], (first, book.id, bids, asks)]
        if not drop:
            payload = book.message(first, book.id, bids, asks)
            for session in self._subscribers(book):  # who is subscribed now, before any await
                await session.send(payload)
        return book.id

    async def send_raw(self, market: str, symbol: str, payload: bytes | str) -> None:
        """Send anything to the book's subscribers (tests: malformed notifications)."""
        for session in self._subscribers(self.books[(market, symbol)]):
            await session.send(payload)

    async def run(self, is_stopping: Callable[[], bool]) -> None:
        async for _ in model_ticks(self.rate, is_stopping):
            if not self.auto:
                continue
            for (market, symbol), book in self.books.items():
                if not self._subscribers(book) and not self._trade_subscribers(book):
                    continue
                await self.push(market, symbol, *book.step())
                if book.model.fills:
                    payloads = book.trades(book.model.fills)
                    for session in self._trade_subscribers(book):
                        for payload in payloads:
                            await session.send(payload)

    # -- WebSocket -----------------------------------------------------------------------------

    async def _ws_spot(self, request: web.Request) -> web.WebSocketResponse:
        return await self._ws(request, "spot")

    async def _ws_futures(self, request: web.Request) -> web.WebSocketResponse:
        return await self._ws(request, "futures")

    async def _ws(self, request: web.Request, market: str) -> web.WebSocketResponse:
        return await serve_text_session(
            request, self.sessions, market, lambda session, text: self._on_message(session, market, text)
        )

    @staticmethod
    def _answer(channel: Any, event: Any, error: tuple[int, str] | None, result: Any = None) -> bytes:
        now_ms = time.time_ns() // 10**6
        return orjson.dumps(
            {
                "time": now_ms // 1000,
                "time_ms": now_ms,
                "channel": channel,
                "event": event,
                "error": {"code": error[0], "message": error[1]} if error else None,
                "result": None if error else result,
            }
        )

    async def _on_message(self, session: TextSession, market: str, text: str) -> None:
        try:
            req = orjson.loads(text)
            channel, event, sent = req["channel"], req.get("event"), req["time"]
            assert type(sent) is int
        except (orjson.JSONDecodeError, KeyError, TypeError, AssertionError):
            await session.send(self._answer(None, None, (1, f"invalid request body format: {text}")))
            return
        if abs(sent - time.time()) > 60:
            await session.send(self._answer(channel, event, (2, f"invalid argument: time {sent}")))
            return
        if channel == f"{market}.ping":
            self.pings += 1
            await session.send(self._answer(f"{market}.pong", "", None))
            return
        payload = req.get("payload")
        pair = payload[0] if isinstance(payload, list) and payload else None
        book = self.books.get((market, pair)) if isinstance(pair, str) else None
        trades = channel == f"{market}.trades"
        if (
            channel != f"{market}.order_book_update"
            and not trades
            or event not in ("subscribe", "unsubscribe")
        ):
            await session.send(self._answer(channel, event, (2, f"unknown channel or event: {text}")))
            return
        if book is not None and trades and len(payload) == 1:
            await session.send(self._answer(channel, event, None, {"status": "success"}))
            (session.trades.add if event == "subscribe" else session.trades.discard)(book.symbol)
            return
        if book is None or payload[1:2] != ["100ms"]:
            await session.send(self._answer(channel, event, (2, f"invalid argument: payload {payload}")))
            return
        await session.send(self._answer(channel, event, None, {"status": "success"}))
        if event == "unsubscribe":
            session.books.discard(book.symbol)
            return
        self.subscribes += 1
        session.books.add(book.symbol)  # from here on it gets every notification
        for first, last, bids, asks in (
            book.history[-self.resend_on_subscribe :] if self.resend_on_subscribe else ()
        ):
            await session.send(book.message(first, last, bids, asks))

    # -- REST ----------------------------------------------------------------------------------

    async def _order_book_spot(self, request: web.Request) -> web.Response:
        return await self._order_book(request, "spot", "currency_pair", "INVALID_CURRENCY_PAIR")

    async def _order_book_futures(self, request: web.Request) -> web.Response:
        return await self._order_book(request, "futures", "contract", "CONTRACT_NOT_FOUND")

    async def _order_book(self, request: web.Request, market: str, param: str, unknown: str) -> web.Response:
        self.snapshot_requests += 1
        book = self.books.get((market, request.query.get(param, "")))
        if book is None:
            return web.json_response({"label": unknown, "message": f"{param} not found"}, status=400)
        try:
            limit = int(request.query.get("limit", "10"))
        except ValueError:
            return web.json_response({"label": "INVALID_PARAM_VALUE", "message": "limit"}, status=400)
        body = orjson.dumps(book.snapshot(limit, request.query.get("with_id") == "true"))
        if self.hold is not None:
            await self.hold.wait()  # read now, answered later
        return web.Response(body=body, content_type="application/json")

    async def _currency_pairs(self, _: web.Request) -> web.Response:
        pairs = []
        for market, symbol in self.books:
            if market == "spot":
                base, quote = symbol.split("_")
                pairs.append({"id": symbol, "base": base, "quote": quote, "trade_status": "tradable"})
        return web.json_response(pairs)

    async def _contracts(self, _: web.Request) -> web.Response:
        contracts = [
            {
                "name": symbol,
                "type": "direct",
                "quanto_multiplier": quanto_multiplier(symbol),
                "in_delisting": False,
                "status": "trading",
            }
            for market, symbol in self.books
            if market == "futures"
        ]
        return web.json_response(contracts)
