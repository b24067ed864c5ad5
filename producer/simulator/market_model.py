"""A market model that produces Binance-shaped book changes with enough structure for the
metrics and alerts to have something to find.

Each symbol keeps an exact book (integer ticks, the producer's OrderBook) and, every step (one
100 ms diff event), applies a batch of limit-order arrivals, cancels and market orders at many
levels. A hidden regime (a Markov chain) biases the flow: calm, bid pressure, ask pressure (so the
imbalance swings and flips), and thin-book episodes where liquidity near the touch is pulled (the
spread blows out, then refills). Everything is drawn from a per-symbol `random.Random` seeded by
(seed, symbol), so a seed gives the same books every run; only the event times are wall-clock.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

from producer.book import SCALE, OrderBook, to_text

# name -> (bid add weight, ask add weight, bid cancel weight, ask cancel weight, touch pull prob)
REGIMES: dict[str, tuple[float, float, float, float, float]] = {
    "calm": (1.0, 1.0, 1.0, 1.0, 0.0),
    "bid_pressure": (2.6, 0.7, 0.5, 1.8, 0.0),
    "ask_pressure": (0.7, 2.6, 1.8, 0.5, 0.0),
    "thin": (0.6, 0.6, 1.5, 1.5, 0.6),
}
# Regime -> [(next regime, probability per step)]; staying is the remainder.
TRANSITIONS: dict[str, list[tuple[str, float]]] = {
    "calm": [("bid_pressure", 0.02), ("ask_pressure", 0.02), ("thin", 0.008)],
    "bid_pressure": [("calm", 0.03), ("ask_pressure", 0.025), ("thin", 0.005)],
    "ask_pressure": [("calm", 0.03), ("bid_pressure", 0.025), ("thin", 0.005)],
    "thin": [("calm", 0.12)],
}
KNOWN_PRICES = {"BTCUSDT": 60_000.0, "ETHUSDT": 2_600.0, "SOLUSDT": 150.0, "BNBUSDT": 550.0}


@dataclass
class SymbolInfo:
    symbol: str
    tick: int  # fixed point (1e-8 units)
    lot: int
    base_asset: str
    quote_asset: str


def symbol_info(symbol: str) -> SymbolInfo:
    quote = next(
        (q for q in ("USDT", "USDC", "FDUSD", "BTC", "ETH", "BNB") if symbol.endswith(q)), symbol[-4:]
    )
    base = symbol[: -len(quote)] or symbol
    price = _start_price(symbol)
    tick = SCALE // 100 if price >= 10 else SCALE // 10_000  # 0.01 or 0.0001
    lot = SCALE // 10_000  # 0.0001
    return SymbolInfo(symbol, tick, lot, base, quote)


def _start_price(symbol: str) -> float:
    return KNOWN_PRICES.get(symbol, 1.0 + (zlib.crc32(symbol.encode()) % 50_000) / 100)


class SymbolModel:
    """The book of one symbol and the order flow that changes it."""

    def __init__(self, symbol: str, seed: int, levels_per_side: int = 300) -> None:
        self.info = symbol_info(symbol)
        self.symbol = symbol
        self.rng = random.Random(f"{seed}:{symbol}")
        self.book = OrderBook()
        self.update_id = 1_000_000 + self.rng.randrange(1_000_000)
        self.regime = "calm"
        self.steps = 0
        tick = self.info.tick
        mid = int(_start_price(symbol) * SCALE) // tick * tick
        bids = [(mid - (i + 1) * tick, self._size(6.0)) for i in range(levels_per_side)]
        asks = [(mid + (i + 1) * tick, self._size(6.0)) for i in range(levels_per_side)]
        self.book.load(bids, asks)
        self.levels_per_side = levels_per_side
        # The trades of the last step: (trade id, price, size, aggressor), in the order the market
        # orders took the levels (what the step's diff shows gone from the book).
        self.fills: list[tuple[int, int, int, str]] = []
        self.trade_id = 10 * self.update_id  # no draw of its own: a seed gives the same books as before

    def _size(self, mean_lots_k: float) -> int:
        """A size in lots, heavy-tailed (most orders small, a few large)."""
        lots = int(self.rng.expovariate(1.0 / (mean_lots_k * 1000))) + 1
        return lots * self.info.lot

    def _next_regime(self) -> None:
        r = self.rng.random()
        acc = 0.0
        for nxt, p in TRANSITIONS[self.regime]:
            acc += p
            if r < acc:
                self.regime = nxt
                return

    def step(self, n_changes: int | None = None) -> tuple[int, int, dict[int, int], dict[int, int]]:
        """Apply one batch of changes. Returns (U, u, bid changes, ask changes), the changes as
        price -> new absolute size (0 = level removed), like one Binance diff event."""
        rng = self.rng
        self.steps += 1
        self.fills = []
        self._next_regime()
        w_bid_add, w_ask_add, w_bid_cxl, w_ask_cxl, pull = REGIMES[self.regime]
        weights = (w_bid_add, w_ask_add, w_bid_cxl, w_ask_cxl, 0.35, 0.35)
        total = sum(weights)
        n = n_changes if n_changes is not None else 4 + int(rng.expovariate(1 / 14))
        bid_changes: dict[int, int] = {}
        ask_changes: dict[int, int] = {}
        first_id = self.update_id + 1
        if pull and rng.random() < pull:
            self._pull_touch(bid_changes, ask_changes)
        for _ in range(n):
            r = rng.random() * total
            if r < weights[0]:
                self._add("bids", bid_changes)
            elif r < weights[0] + weights[1]:
                self._add("asks", ask_changes)
            elif r < weights[0] + weights[1] + weights[2]:
                self._cancel("bids", bid_changes)
            elif r < total - weights[5]:
                self._cancel("asks", ask_changes)
            elif r < total - weights[5] / 2:
                self._market("asks", ask_changes)  # a buy takes liquidity from the asks
            else:
                self._market("bids", bid_changes)
        self._refill(bid_changes, ask_changes)
        self.update_id += max(1, len(bid_changes) + len(ask_changes))
        return first_id, self.update_id, bid_changes, ask_changes

    def _set(self, side: str, price: int, size: int, changes: dict[int, int]) -> None:
        if side == "bids":
            self.book.apply([(price, size)], [])
        else:
            self.book.apply([], [(price, size)])
        changes[price] = size

    def _add(self, side: str, changes: dict[int, int]) -> None:
        rng, tick = self.rng, self.info.tick
        best_bid, best_ask = self.book.best_bid(), self.book.best_ask()
        if best_bid is None or best_ask is None:
            return
        spread_ticks = (best_ask[0] - best_bid[0]) // tick
        distance = min(int(rng.expovariate(0.25)), 120)
        if spread_ticks > 1 and rng.random() < 0.3:
            distance = -rng.randrange(1, spread_ticks)  # improve inside the spread
        price = best_bid[0] - distance * tick if side == "bids" else best_ask[0] + distance * tick
        if price <= 0:
            return
        self._set(side, price, self.book.size_at(side, price) + self._size(2.0), changes)

    def _cancel(self, side: str, changes: dict[int, int]) -> None:
        levels = self.book.levels(side, 40)
        if len(levels) < 5:
            return
        price, size = levels[min(int(self.rng.expovariate(0.12)), len(levels) - 1)]
        if self.rng.random() < 0.5:
            self._set(side, price, 0, changes)
        else:
            keep = size * self.rng.randrange(1, 10) // 10 // self.info.lot * self.info.lot
            self._set(side, price, keep, changes)

    def _market(self, side: str, changes: dict[int, int]) -> None:
        qty = self._size(3.0)
        aggressor = "buy" if side == "asks" else "sell"
        for price, size in self.book.levels(side, 5):
            take = min(qty, size)
            self._set(side, price, size - take, changes)
            self.trade_id += 1
            self.fills.append((self.trade_id, price, take, aggressor))
            qty -= take
            if qty <= 0:
                return

    def _pull_touch(self, bid_changes: dict[int, int], ask_changes: dict[int, int]) -> None:
        depth = self.rng.randrange(2, 8)
        for price, _ in self.book.levels("bids", depth):
            self._set("bids", price, 0, bid_changes)
        for price, _ in self.book.levels("asks", depth):
            self._set("asks", price, 0, ask_changes)

    def _refill(self, bid_changes: dict[int, int], ask_changes: dict[int, int]) -> None:
        """Keep both sides deep enough (liquidity providers come back far from the touch)."""
        tick = self.info.tick
        for side, changes in (("bids", bid_changes), ("asks", ask_changes)):
            # Counted before the side is sorted: it rarely needs refilling, and sorting both sides
            # every step was a quarter of the simulator's CPU (bench/pipeline.py, issue 21).
            if self.book.side_len(side) >= self.levels_per_side // 2:
                continue
            levels = self.book.levels(side)
            far = levels[-1][0] if levels else None
            if far is None:
                other = self.book.best_ask() if side == "bids" else self.book.best_bid()
                far = other[0] if other else int(_start_price(self.symbol) * SCALE)
            for i in range(1, 21):
                price = far - i * tick if side == "bids" else far + i * tick
                if price > 0:
                    self._set(side, price, self._size(6.0), changes)

    # -- Binance payloads ------------------------------------------------------------------------

    def snapshot(self, limit: int) -> dict[str, object]:
        return {
            "lastUpdateId": self.update_id,
            "bids": [[to_text(p), to_text(s)] for p, s in self.book.levels("bids", limit)],
            "asks": [[to_text(p), to_text(s)] for p, s in self.book.levels("asks", limit)],
        }

    def book_ticker(self) -> dict[str, object]:
        bid = self.book.best_bid() or (0, 0)
        ask = self.book.best_ask() or (0, 0)
        return {
            "u": self.update_id,
            "s": self.symbol,
            "b": to_text(bid[0]),
            "B": to_text(bid[1]),
            "a": to_text(ask[0]),
            "A": to_text(ask[1]),
        }

    def partial(self, depth: int) -> dict[str, object]:
        return self.snapshot(depth)


def depth_update(
    symbol: str, event_time_ms: int, first_id: int, final_id: int, bids: dict[int, int], asks: dict[int, int]
) -> dict[str, object]:
    return {
        "e": "depthUpdate",
        "E": event_time_ms,
        "s": symbol,
        "U": first_id,
        "u": final_id,
        "b": [[to_text(p), to_text(s)] for p, s in bids.items()],
        "a": [[to_text(p), to_text(s)] for p, s in asks.items()],
    }


def trade_events(
    symbol: str, event_time_ms: int, fills: list[tuple[int, int, int, str]]
) -> list[dict[str, object]]:
    """Binance spot `@trade` payloads of one step's fills (`m`: the buyer was the maker)."""
    return [
        {"e": "trade", "E": event_time_ms, "s": symbol, "t": trade_id, "p": to_text(price), "q": to_text(size),
         "T": event_time_ms, "m": aggressor == "sell", "M": True}
        for trade_id, price, size, aggressor in fills
    ]  # fmt: skip


def agg_trade_events(
    symbol: str, event_time_ms: int, fills: list[tuple[int, int, int, str]]
) -> list[dict[str, object]]:
    """Binance futures `@aggTrade` payloads: one per fill (a market order's fill at one price),
    its aggregate id the trade id."""
    return [
        {"e": "aggTrade", "E": event_time_ms, "s": symbol, "a": trade_id, "p": to_text(price), "q": to_text(size),
         "f": trade_id, "l": trade_id, "T": event_time_ms, "m": aggressor == "sell"}
        for trade_id, price, size, aggressor in fills
    ]  # fmt: skip
