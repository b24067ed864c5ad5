"""Drives the market model in real time and fans its frames out to subscribed sessions.

All symbols step together `updates_per_second` times a second (Binance's diff stream is one
event per 100 ms per symbol); at rate 0 they step as fast as the sessions take the frames.
Streams served per symbol: `@depth@100ms` and `@depth` (diffs), `@depth{5,10,20}@100ms`
(partial books), `@bookTicker` (best levels with the book's update id), and the trades the
step's market orders made of the levels they took: `@trade` (spot's) and `@aggTrade` (futures').
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from producer.simulator.market_model import SymbolModel, agg_trade_events, depth_update, trade_events

if TYPE_CHECKING:
    from producer.simulator.server import Session, Simulator


class ModelSource:
    def __init__(self, sim: Simulator, symbols: list[str], seed: int, updates_per_second: float) -> None:
        self.sim = sim
        self.models = {s: SymbolModel(s, seed) for s in symbols}
        self.rate = updates_per_second
        # stream -> sessions subscribed to it
        self._subscribers: dict[str, set[Session]] = {}
        self.steps = 0

    def subscribe(self, session: Session) -> None:
        """(Re)index a session under its current streams."""
        self.unsubscribe(session)
        for stream in session.streams:
            self._subscribers.setdefault(stream, set()).add(session)

    def unsubscribe(self, session: Session) -> None:
        for sessions in self._subscribers.values():
            sessions.discard(session)

    def update_ids(self) -> dict[str, int]:
        return {s: m.update_id for s, m in self.models.items()}

    def snapshot(self, symbol: str, limit: int) -> dict[str, object]:
        return self.models[symbol].snapshot(limit)

    async def run(self, is_stopping: Callable[[], bool]) -> None:
        interval = 1.0 / self.rate if self.rate > 0 else 0.0
        next_tick = time.monotonic()
        while not is_stopping():
            for symbol in self.models:
                await self.step(symbol)
            if interval:
                next_tick += interval
                delay = next_tick - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    next_tick = time.monotonic()  # we fell behind: do not burst to catch up
                    await asyncio.sleep(0)
            else:
                await asyncio.sleep(0)

    async def step(self, symbol: str) -> None:
        model = self.models[symbol]
        first_id, final_id, bids, asks = model.step()
        self.steps += 1
        now_ms = time.time_ns() // 10**6
        low = symbol.lower()
        faults = self.sim.faults
        stall = faults.stalled_for() > 0
        subs = self._subscribers
        diff_sessions = subs.get(f"{low}@depth@100ms", set()) | subs.get(f"{low}@depth", set())
        if diff_sessions and not stall:
            for extra in faults.take_malformed(symbol):  # taken only when sent: none lost in a stall
                for session in list(diff_sessions):
                    await session.send_raw(extra)
            if not faults.take_drop(symbol):
                payload = orjson.dumps(depth_update(symbol, now_ms, first_id, final_id, bids, asks))
                for session in list(diff_sessions):
                    stream = (
                        f"{low}@depth@100ms" if f"{low}@depth@100ms" in session.streams else f"{low}@depth"
                    )
                    await session.send(stream, payload)
        if stall:
            faults.withheld += len(diff_sessions)
            return
        for stream, events in ((f"{low}@trade", trade_events), (f"{low}@aggTrade", agg_trade_events)):
            trade_sessions = subs.get(stream)
            if trade_sessions and model.fills:
                for payload in [orjson.dumps(e) for e in events(symbol, now_ms, model.fills)]:
                    for session in list(trade_sessions):
                        await session.send(stream, payload)
        ticker_sessions = subs.get(f"{low}@bookTicker")
        if ticker_sessions:
            payload = orjson.dumps(model.book_ticker())
            for session in list(ticker_sessions):
                await session.send(f"{low}@bookTicker", payload)
        for depth in (5, 10, 20):
            stream = f"{low}@depth{depth}@100ms"
            partial_sessions = subs.get(stream)
            if partial_sessions:
                payload = orjson.dumps(model.partial(depth))
                for session in list(partial_sessions):
                    await session.send(stream, payload)
