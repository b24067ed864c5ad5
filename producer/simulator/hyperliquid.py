"""Hyperliquid's public WebSocket and /info REST, simulated, for the simulator's symbols named like
Hyperliquid's: a bare coin (`BTC`, `ETH`) is a perp, `BASE-USDC` a spot pair.

WebSocket (on the simulator's `/ws`, which it shares with Binance's raw streams: Hyperliquid's
requests are told apart by their lower-case `method`, Binance's are upper-case):
`{"method": "ping"}` is answered `{"channel": "pong"}`; `{"method": "subscribe"|"unsubscribe",
"subscription": {"type": "l2Book", "coin": ...}}` is answered by a `subscriptionResponse` (an
`error` message for an unknown coin or type), and a subscription gets the coin's whole book at
once, then a whole book after every change, with a `time` one ms or more after the previous.
Levels are the top 20 per side as `{px, sz, n}`, best first. Spot coins are `@{index}` from
`spotMeta`, except PURR/USDC. A `{"type": "trades", "coin": ...}` subscription gets a `trades`
message of the fills of every step of the market model, after the book's message.

REST: POST `/info` with `{"type": "meta"}` (perps: universe of coins) or `{"type": "spotMeta"}`
(tokens and pairs with `index` and `tokens`).

Changes come from the market model, or with `auto` off only from `push` (tests craft the books);
tests can also send the current book again (`resend`), send any earlier message again
(`replay_old`: an out-of-order book) and send anything (`send_raw`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from producer.simulator.market_model import SymbolModel
from producer.simulator.text_venue import TextBook, TextSession, close_sessions, model_ticks, okx_text

LEVELS = 20
SPOT_QUOTE = "USDC"
NAMED_PAIR = "PURR-USDC"  # streamed as "PURR/USDC", index 0
PERP = re.compile(r"^[A-Z0-9]{2,10}$")
QUOTES = ("USDT", "USDC", "BUSD", "USD")


def coin_kind(symbol: str) -> str | None:
    """perp for a bare coin, spot for BASE-USDC, None for names of other venues."""
    if PERP.match(symbol) and not symbol.endswith(QUOTES):
        return "perp"
    parts = symbol.split("-")
    if len(parts) == 2 and parts[1] == SPOT_QUOTE and parts[0]:
        return "spot"
    return None


class HyperliquidBook(TextBook):
    """One coin's book as {price text: size text} per side, and the time of its last message."""

    def __init__(self, coin: str, model: SymbolModel) -> None:
        super().__init__(model)
        self.coin = coin
        self.time = 0
        self.sent: list[bytes] = []  # every book message sent, oldest first (tests resend them)

    def message(self) -> bytes:
        """The whole book now, at a time after the previous message's."""
        self.time = max(time.time_ns() // 10**6, self.time + 1)
        levels = [
            [{"px": p, "sz": sz, "n": 1 + len(p) % 5} for p, sz in self.top("bids", LEVELS)],
            [{"px": p, "sz": sz, "n": 1 + len(p) % 5} for p, sz in self.top("asks", LEVELS)],
        ]
        payload = orjson.dumps(
            {"channel": "l2Book", "data": {"coin": self.coin, "time": self.time, "levels": levels}}
        )
        self.sent.append(payload)
        return payload


class HyperliquidVenue:
    def __init__(self, symbols: list[str], seed: int, updates_per_second: float) -> None:
        perps = [s for s in symbols if coin_kind(s) == "perp"]
        pairs = sorted(s for s in symbols if coin_kind(s) == "spot" and s != NAMED_PAIR)
        # spotMeta: token 0 is USDC, PURR 1; pair 0 is PURR/USDC, the others from index 1 on.
        self.pair_index = {NAMED_PAIR: 0, **{p: i for i, p in enumerate(pairs, start=1)}}
        self.books: dict[str, HyperliquidBook] = {}  # coin -> book
        self.coin_of: dict[str, str] = {}  # simulator symbol -> coin
        for symbol in perps:
            self.coin_of[symbol] = symbol
        for symbol in [s for s in symbols if coin_kind(s) == "spot"]:
            index = self.pair_index[symbol]
            self.coin_of[symbol] = "PURR/USDC" if index == 0 else f"@{index}"
        for symbol, coin in self.coin_of.items():
            base = symbol.split("-")[0]
            self.books[coin] = HyperliquidBook(coin, SymbolModel(f"{base}USDT", seed))
        self.rate = updates_per_second
        self.auto = True
        self.sessions: dict[web.WebSocketResponse, TextSession] = {}
        self.subscribes = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/info", self._info)

    @staticmethod
    def speaks(text: str) -> bool:
        """True for Hyperliquid's requests (lower-case methods), not Binance's (SUBSCRIBE...)."""
        return '"method"' in text and ('"subscribe"' in text or '"unsubscribe"' in text or '"ping"' in text)

    async def close(self) -> None:
        await close_sessions(list(self.sessions.values()))

    async def disconnect(self) -> None:
        await self.close()

    def forget(self, ws: web.WebSocketResponse) -> None:
        self.sessions.pop(ws, None)

    def _subscribers(self, coin: str) -> list[TextSession]:
        return [s for s in self.sessions.values() if coin in s.books]

    def _trade_subscribers(self, coin: str) -> list[TextSession]:
        return [s for s in self.sessions.values() if coin in s.trades]

    async def send_trades(self, book: HyperliquidBook, fills: list[tuple[int, int, int, str]]) -> None:
        """The `trades` message of one step's fills (side B: the taker bought; `users` are made
        up, buyer then seller)."""
        if not fills:
            return
        data = [
            {"coin": book.coin, "side": "B" if aggressor == "buy" else "A", "px": okx_text(price),
             "sz": okx_text(size), "time": book.time, "hash": f"0x{trade_id:064x}", "tid": trade_id,
             "users": [f"0x{1:040x}", f"0x{2:040x}"]}
            for trade_id, price, size, aggressor in fills
        ]  # fmt: skip
        payload = orjson.dumps({"channel": "trades", "data": data})
        for session in self._trade_subscribers(book.coin):
            await session.send(payload)

    async def _send(self, coin: str, payload: bytes | str) -> None:
        for session in self._subscribers(coin):
            await session.send(payload)

    # -- changes -------------------------------------------------------------------------------

    async def push(self, symbol: str, bids: list[list[str]], asks: list[list[str]]) -> int:
        """Apply one change and send the whole book; returns its time."""
        book = self.books[self.coin_of[symbol]]
        book.apply(bids, asks)
        await self._send(book.coin, book.message())
        return book.time

    async def resend(self, symbol: str) -> None:
        """The last book message again, as sent (a repeated snapshot)."""
        book = self.books[self.coin_of[symbol]]
        await self._send(book.coin, book.sent[-1])

    async def replay_old(self, symbol: str, back: int) -> None:
        """The message sent `back` messages before the last one (an out-of-order book)."""
        book = self.books[self.coin_of[symbol]]
        await self._send(book.coin, book.sent[-1 - back])

    async def send_raw(self, symbol: str, payload: bytes | str) -> None:
        await self._send(self.coin_of[symbol], payload)

    async def run(self, is_stopping: Callable[[], bool]) -> None:
        async for _ in model_ticks(self.rate, is_stopping):
            if not self.auto:
                continue
            for book in self.books.values():
                if not self._subscribers(book.coin) and not self._trade_subscribers(book.coin):
                    continue
                book.apply(*book.step())
                await self._send(book.coin, book.message())
                await self.send_trades(book, book.model.fills)

    # -- WebSocket (requests arrive through the simulator's /ws handler) -----------------------

    async def on_message(self, ws: web.WebSocketResponse, text: str) -> None:
        session = self.sessions.get(ws)
        if session is None:
            session = self.sessions[ws] = TextSession(ws)
        try:
            req = orjson.loads(text)
            method = req["method"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            await session.send(orjson.dumps({"channel": "error", "data": f"Invalid request: {text}"}))
            return
        if method == "ping":
            await session.send(b'{"channel":"pong"}')
            return
        sub = req.get("subscription")
        coin = sub.get("coin") if isinstance(sub, dict) else None
        if (
            method not in ("subscribe", "unsubscribe")
            or not isinstance(sub, dict)
            or sub.get("type") not in ("l2Book", "trades")
            or coin not in self.books
        ):
            await session.send(orjson.dumps({"channel": "error", "data": f"Invalid subscription {text}"}))
            return
        answer = {"channel": "subscriptionResponse", "data": {"method": method, "subscription": sub}}
        await session.send(orjson.dumps(answer))
        if sub["type"] == "trades":
            (session.trades.add if method == "subscribe" else session.trades.discard)(coin)
            return
        if method == "unsubscribe":
            session.books.discard(coin)
            return
        self.subscribes += 1
        session.books.add(coin)
        book = self.books[coin]
        await session.send(book.sent[-1] if book.sent else book.message())

    # -- REST ----------------------------------------------------------------------------------

    async def _info(self, request: web.Request) -> web.Response:
        try:
            kind = (await request.json())["type"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": "Failed to deserialize the JSON body"}, status=422)
        if kind == "meta":
            universe = [
                {"name": coin, "szDecimals": 5, "maxLeverage": 50}
                for symbol, coin in self.coin_of.items()
                if coin_kind(symbol) == "perp"
            ]
            return web.json_response({"universe": universe})
        if kind == "spotMeta":
            return web.json_response(self._spot_meta())
        return web.json_response({"error": f"unknown info type {kind!r}"}, status=422)

    def _spot_meta(self) -> dict[str, Any]:
        tokens = {SPOT_QUOTE: 0, "PURR": 1}
        universe = []
        for symbol, index in sorted(self.pair_index.items(), key=lambda item: item[1]):
            base = symbol.split("-")[0]
            tokens.setdefault(base, len(tokens))
            name = "PURR/USDC" if index == 0 else f"@{index}"
            universe.append(
                {"name": name, "index": index, "tokens": [tokens[base], 0], "isCanonical": index == 0}
            )
        token_list = [
            {"name": name, "index": i, "szDecimals": 2, "weiDecimals": 8} for name, i in tokens.items()
        ]
        return {"tokens": token_list, "universe": universe}
