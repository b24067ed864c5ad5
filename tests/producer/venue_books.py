"""Crafted books for the venues' golden tests: a true book moved by random level changes, whose
state after every change is known exactly, so every published record can be compared with the
book the exchange had at that sequence id (no producer code involved)."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction


class TrueBook:
    """Both sides as {price text: size text} (the exchange's own strings), changed a few levels at
    a time near the touch; bids and asks never cross."""

    def __init__(self, seed: int, mid: Decimal, tick: Decimal, sizes: tuple[int, int] = (1, 500)) -> None:
        self.rng = random.Random(seed)
        self.mid, self.tick, self.sizes = mid, tick, sizes
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        for i in range(1, 41):
            self.bids[self._price(-i)] = self._size()
            self.asks[self._price(i)] = self._size()

    def _price(self, ticks: int) -> str:
        return str(self.mid + ticks * self.tick)

    def _size(self) -> str:
        return str(self.rng.randint(*self.sizes))

    def change(self, n: int | None = None) -> tuple[list[list[str]], list[list[str]]]:
        """Apply n random changes; returns them as ([[price, size]] bids, asks), size "0" = removed."""
        rng = self.rng
        bids: dict[str, str] = {}
        asks: dict[str, str] = {}
        for _ in range(n or rng.randint(1, 6)):
            side, out, sign = (self.bids, bids, -1) if rng.random() < 0.5 else (self.asks, asks, 1)
            price = self._price(sign * rng.randint(1, 45))
            if price in side and rng.random() < 0.35:
                del side[price]
                out[price] = "0"
            else:
                side[price] = out[price] = self._size()
        return [[p, s] for p, s in bids.items()], [[p, s] for p, s in asks.items()]

    def levels(self, side: str, n: int | None = None) -> list[list[str]]:
        book = self.bids if side == "bids" else self.asks
        prices = sorted(book, key=Decimal, reverse=side == "bids")
        return [[p, book[p]] for p in prices[:n]]

    def expected(self, depth: int, size_of=None) -> dict[str, list[float]]:  # noqa: ANN001
        """The top `depth` as the record carries it; `size_of(price, size) -> Fraction` converts
        the venue's size to base units (None: it is base units already)."""
        out: dict[str, list[float]] = {}
        for side, name in (("bids", "bid"), ("asks", "ask")):
            top = self.levels(side, depth)
            out[f"{name}_prices"] = [float(Fraction(p)) for p, _ in top]
            out[f"{name}_sizes"] = [
                float(size_of(Fraction(p), Fraction(s)) if size_of else Fraction(s)) for p, s in top
            ]
        return out
