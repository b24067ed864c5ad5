"""OKX's public WebSocket and instruments REST, simulated: `/ws/v5/public` and
`/api/v5/public/instruments`, for the simulator's instruments named like OKX's (`BTC-USDT`,
`BTC-USDT-SWAP`, `BTC-USD-SWAP`).

WebSocket: the text "ping" is answered "pong"; `{"op": "subscribe"|"unsubscribe", "args":
[{"channel": "books", "instId": ...}]}` is acknowledged with an `event` message, and a
subscription gets the instrument's whole book (`action: "snapshot"`, `prevSeqId: -1`), then every
change as an `update` with `seqId`/`prevSeqId` and the CRC32 `checksum` of the top 25 levels over
the exact strings sent. `{"channel": "trades", ...}` gets a `trades` push of the fills of every
step of the market model (its market orders taking levels), sent after the book's update. Levels are [price, size, "0", orders]. Unknown channels or instruments get
an `error` event.

Where the changes come from: each subscribed instrument's market model (the same one as Binance's
streams, stepped `updates_per_second` times a second; its sizes are read as contracts on swaps),
or, with `auto` off, only `push` (tests craft the changes, so the books are known). `push` can
also lose an update (`drop`: the clients see a broken chain) or send a wrong checksum.

The checksum here is written independently of the producer's (okx_spot.checksum): a client that
computed it differently would fail against this simulator.
"""

from __future__ import annotations

import time
import zlib
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

BOOK_LEVELS = 400
CHECKSUM_LEVELS = 25


def instrument(inst_id: str) -> dict[str, str] | None:
    """The instruments entry of an OKX-named symbol (None for other names)."""
    parts = inst_id.split("-")
    if len(parts) == 2:
        base, quote = parts
        return {
            "instType": "SPOT",
            "instId": inst_id,
            "baseCcy": base,
            "quoteCcy": quote,
            "tickSz": "0.01",
            "lotSz": "0.0001",
            "state": "live",
        }
    if len(parts) == 3 and parts[2] == "SWAP":
        base, quote = parts[0], parts[1]
        linear = quote != "USD"
        if linear:
            ct_val = "0.01" if base == "BTC" else "0.1"
        else:
            ct_val = "100" if base == "BTC" else "10"
        return {
            "instType": "SWAP",
            "instId": inst_id,
            "instFamily": f"{base}-{quote}",
            "uly": f"{base}-{quote}",
            "ctVal": ct_val,
            "ctValCcy": base if linear else "USD",
            "ctType": "linear" if linear else "inverse",
            "settleCcy": quote if linear else base,
            "tickSz": "0.1",
            "lotSz": "1",
            "state": "live",
        }
    return None


class OkxBook(TextBook):
    """One instrument's book as OKX would send it: {price string: size string} per side and the
    sequence id."""

    def __init__(self, inst_id: str, model: SymbolModel) -> None:
        super().__init__(model)
        self.inst_id = inst_id
        self.seq = 1000 + model.rng.randrange(10**6)

    def checksum(self) -> int:
        bids, asks = self.top("bids", CHECKSUM_LEVELS), self.top("asks", CHECKSUM_LEVELS)
        fields: list[str] = []
        for i in range(CHECKSUM_LEVELS):
            for side in (bids, asks):
                if i < len(side):
                    fields.extend(side[i])
        value = zlib.crc32(":".join(fields).encode()) & 0xFFFFFFFF
        return value - 2**32 if value >= 2**31 else value

    def message(
        self, action: str, bids: list[list[str]], asks: list[list[str]], prev: int, checksum: int
    ) -> bytes:
        return orjson.dumps(
            {
                "arg": {"channel": "books", "instId": self.inst_id},
                "action": action,
                "data": [
                    {
                        "asks": [[p, s, "0", "1"] for p, s in asks],
                        "bids": [[p, s, "0", "1"] for p, s in bids],
                        "ts": str(time.time_ns() // 10**6),
                        "checksum": checksum,
                        "prevSeqId": prev,
                        "seqId": self.seq,
                    }
                ],
            }
        )


class OkxVenue(TextVenue):
    def __init__(self, symbols: list[str], seed: int, updates_per_second: float) -> None:
        super().__init__(updates_per_second)
        # The model of BTC-USDT-SWAP is BTCUSDT's (its known price level), seeded like it.
        self.books = {
            s: OkxBook(s, SymbolModel("".join(s.split("-")[:2]), seed))
            for s in symbols
            if instrument(s) is not None
        }
        self.pings = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/ws/v5/public", self._ws)
        app.router.add_get("/api/v5/public/instruments", self._instruments)

    def _subscribers(self, inst_id: str) -> list[TextSession]:
        return [s for s in self.sessions if inst_id in s.books]

    def _trade_subscribers(self, inst_id: str) -> list[TextSession]:
        return [s for s in self.sessions if inst_id in s.trades]

    async def send_trades(self, inst_id: str, fills: list[tuple[int, int, int, str]]) -> None:
        """The `trades` push of one step's fills (the market orders that took the book's levels;
        sizes are contracts on swaps, as the book's)."""
        if not fills:
            return
        ts = str(time.time_ns() // 10**6)
        payload = orjson.dumps(
            {
                "arg": {"channel": "trades", "instId": inst_id},
                "data": [
                    {"instId": inst_id, "tradeId": str(trade_id), "px": okx_text(price), "sz": okx_text(size),
                     "side": aggressor, "ts": ts, "count": "1"}
                    for trade_id, price, size, aggressor in fills
                ],
            }
        )  # fmt: skip
        for session in self._trade_subscribers(inst_id):
            await session.send(payload)

    # -- changes -------------------------------------------------------------------------------

    async def push(
        self,
        inst_id: str,
        bids: list[list[str]],
        asks: list[list[str]],
        *,
        drop: bool = False,
        bad_checksum: bool = False,
    ) -> int:
        """Apply one change to the book and send it as an update; returns its sequence id.
        `drop`: nobody gets it (a lost message); `bad_checksum`: its checksum is off by one."""
        book = self.books[inst_id]
        book.apply(bids, asks)
        prev, book.seq = book.seq, book.seq + 1 + book.model.rng.randrange(3)
        checksum = book.checksum() + (1 if bad_checksum else 0)
        if bad_checksum and checksum >= 2**31:
            checksum -= 2
        payload = book.message("update", bids, asks, prev, checksum)
        if not drop:
            for session in self._subscribers(inst_id):  # who is subscribed now, before any await
                await session.send(payload)
        return book.seq

    async def send_raw(self, inst_id: str, payload: bytes | str) -> None:
        """Send anything to the instrument's subscribers (tests: malformed pushes)."""
        for session in self._subscribers(inst_id):
            await session.send(payload)

    async def run(self, is_stopping: Callable[[], bool]) -> None:
        async for _ in model_ticks(self.rate, is_stopping):
            if not self.auto:
                continue
            for inst_id, book in self.books.items():
                if not self._subscribers(inst_id) and not self._trade_subscribers(inst_id):
                    continue
                await self.push(inst_id, *book.step())
                await self.send_trades(inst_id, book.model.fills)

    # -- WebSocket -----------------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        return await serve_text_session(request, self.sessions, "public", self._on_message)

    async def _on_message(self, session: TextSession, text: str) -> None:
        if text == "ping":
            self.pings += 1
            await session.send("pong")
            return
        try:
            req = orjson.loads(text)
            op, args = req["op"], req["args"]
            assert op in ("subscribe", "unsubscribe") and isinstance(args, list)
        except (orjson.JSONDecodeError, KeyError, TypeError, AssertionError):
            await session.send(
                orjson.dumps({"event": "error", "code": "60012", "msg": f"Invalid request: {text}"})
            )
            return
        for arg in args:
            inst_id = arg.get("instId") if isinstance(arg, dict) else None
            channel = arg.get("channel") if isinstance(arg, dict) else None
            if channel not in ("books", "trades") or inst_id not in self.books:
                await session.send(
                    orjson.dumps({"event": "error", "code": "60018", "msg": f"Wrong URL or channel: {arg}"})
                )
                continue
            await session.send(orjson.dumps({"event": op, "arg": arg, "connId": f"{id(session):x}"}))
            if channel == "trades":
                (session.trades.add if op == "subscribe" else session.trades.discard)(inst_id)
                continue
            if op == "unsubscribe":
                session.books.discard(inst_id)
                continue
            self.subscribes += 1
            book = self.books[inst_id]
            session.books.add(inst_id)  # from here on it gets every update after this snapshot
            snapshot = book.message(
                "snapshot", book.top("bids", BOOK_LEVELS), book.top("asks", BOOK_LEVELS), -1, book.checksum()
            )
            await session.send(snapshot)

    # -- REST ----------------------------------------------------------------------------------

    async def _instruments(self, request: web.Request) -> web.Response:
        inst_type = request.query.get("instType", "")
        if inst_type not in ("SPOT", "SWAP", "FUTURES", "OPTION", "MARGIN"):
            return web.json_response(
                {"code": "51000", "msg": "Parameter instType error", "data": []}, status=400
            )
        wanted = request.query.get("instId")
        data: list[dict[str, Any]] = []
        for inst_id in self.books:
            entry = instrument(inst_id)
            if entry and entry["instType"] == inst_type and (wanted is None or wanted == inst_id):
                data.append(entry)
        return web.json_response({"code": "0", "msg": "", "data": data})
