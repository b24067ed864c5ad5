"""An exact order book: prices and sizes as fixed-point integers, never floats.

Binance sends prices and sizes as decimal strings with at most 8 fractional digits. Parsing them
into integers scaled by 10**8 keeps every level exact (two strings that mean the same number give
the same key; nothing is lost by rounding), and integer keys are cheap to hash, compare and bisect.
Floats appear only at the edge, when the top N levels are copied into a record; an int / int true
division is correctly rounded, so the published float is the nearest double to the exchange's
decimal, the same as `float(text)`.

Speed (this is the producer's hot path, see docs/benchmarks.md):
- Parsing goes through caches (`str -> int`) whose misses parse and validate: a string is in a
  cache only if it is a valid price (or size), so a hit needs no further check, and a whole side
  of a frame is looked up by `map` in C (`parse_columns`). Anything unusual falls back to the
  level-by-level `parse_levels`, which says precisely what is wrong.
- Each side is a dict (price -> size) holding every level, plus a short sorted *window* holding
  exactly the best few hundred prices. Binance updates levels all over a 1000-level book, and most
  of them fall outside the window: for those only the dict changes. The window is what top-N
  reads, and inserting into or deleting from a short list is cheap wherever it happens (a sorted
  list of the whole book pays a memmove of thousands of pointers for every change near the top).
  The window is refilled from the dict (a partial sort) in the rare case it runs low.

Bounded snapshots: a REST snapshot asked for `limit` levels that comes back full (as many levels
as asked on a side) shows only the best `limit` levels of a deeper book. Below its last level (the
side's *boundary*) the book knows only the levels an update has touched since: levels that rested
there untouched are missing. `load(..., limit=)` remembers each full side's boundary, and the
apply loops count the levels at or inside it (`known_levels`); a side whose count falls below the
published depth can no longer publish a true top N (`short_side`): the engine resyncs the book.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from heapq import nlargest, nsmallest
from typing import Any

SCALE_DIGITS = 8
SCALE = 10**SCALE_DIGITS

# (price, size) pairs in fixed point, as parsed from one side of a frame (the general form).
Levels = list[tuple[int, int]]
# The same as two columns (prices, sizes), as the fast parser makes them.
Columns = tuple[tuple[int, ...], tuple[int, ...]]

_MAX_TEXT_LEN = 64  # no price or size needs more; bounds int() work and cache memory
# Fixed-point values must stay below 2**127 (~1.7e30 units): the native book stores u128, and no
# market's price or size comes near it.
MAX_FIXED = 1 << 127
_CACHE_MAX = 300_000  # entries per cache before it is cleared (only a cache: cleared is correct)
_WINDOW = 128  # levels per side the window is (re)filled to
_WINDOW_MAX = 512  # trimmed back to _WINDOW above this
_WINDOW_MIN = 32  # refilled below this (when the book has more levels than the window)
_ABOVE_ALL = 1 << 256  # bigger than any price: the ask window's edge while the book is empty


class BadLevel(ValueError):
    """A price or size that is not a plain non-negative decimal string (NaN, negative, float...)."""


def parse_fixed(text: str) -> int:
    """Decimal string -> integer scaled by 10**8, exactly. Raises BadLevel on anything else.

    Accepted: ASCII digits with at most one '.', at least one digit, at most 8 significant
    decimals (more digits are fine if they are zeros). Rejected: signs, exponents, NaN/inf,
    whitespace, digit separators, non-ASCII digits, JSON numbers (non-strings)."""
    if type(text) is not str:
        raise BadLevel(f"not a decimal string: {text!r}")
    if len(text) > 9 and text[-9] == ".":  # Binance's own format: exactly 8 decimals
        whole, frac = text[:-9], text[-8:]
    else:
        whole, _, frac = text.partition(".")
        if len(frac) > SCALE_DIGITS:
            if frac[SCALE_DIGITS:].strip("0"):
                raise BadLevel(f"more than {SCALE_DIGITS} decimals: {text!r}")
            frac = frac[:SCALE_DIGITS]
    if (
        len(text) > _MAX_TEXT_LEN
        or not text.isascii()
        or not (whole or frac)
        or (whole and not whole.isdigit())
        or (frac and not frac.isdigit())
    ):
        raise BadLevel(f"not a decimal number: {text!r}")
    value = int(whole + frac + "0" * (SCALE_DIGITS - len(frac)))
    if value >= MAX_FIXED:
        raise BadLevel(f"out of range: {text!r}")
    return value


class _ParsedPrices(dict[str, int]):
    """Valid price strings -> fixed point. A miss parses and validates (raising BadLevel)."""

    def __missing__(self, text: str) -> int:
        value = parse_fixed(text)
        if value <= 0:
            raise BadLevel(f"non-positive price {text!r}")
        if len(self) >= _CACHE_MAX:
            self.clear()
        self[text] = value
        return value


class _ParsedSizes(dict[str, int]):
    """Valid size strings (>= 0) -> fixed point. A miss parses and validates (raising BadLevel)."""

    def __missing__(self, text: str) -> int:
        if type(text) is str and text[:1] == "-":  # also "-0.00000000", which parses to 0
            raise BadLevel(f"negative size {text!r}")
        value = parse_fixed(text)
        if len(self) >= _CACHE_MAX:
            self.clear()
        self[text] = value
        return value


class _Floats(dict[int, float]):
    """Fixed point -> the published float (the correctly rounded int / int division)."""

    def __missing__(self, value: int) -> float:
        result = value / SCALE
        if len(self) >= _CACHE_MAX:
            self.clear()
        self[value] = result
        return result


_PRICES = _ParsedPrices()
_SIZES = _ParsedSizes()
_FLOATS = _Floats()
_list_len = list.__len__  # raises TypeError for anything that is not a list


def parse_levels(raw: object, side: str) -> Levels:
    """[[price, size], ...] -> [(price, size)] in fixed point, all validated before any is used,
    so a bad level rejects the whole frame instead of leaving a half-applied book."""
    if type(raw) is not list:
        raise BadLevel(f"{side}: expected a list of [price, size], got {type(raw).__name__}")
    out: Levels = []
    for level in raw:
        if type(level) is not list or len(level) != 2:
            raise BadLevel(f"{side}: level is not [price, size]: {level!r}")
        price, size = level
        try:
            out.append((_PRICES[price], _SIZES[size]))
        except TypeError:  # unhashable, e.g. a nested list
            raise BadLevel(f"{side}: level is not [price, size]: {level!r}") from None
        except BadLevel as exc:
            raise BadLevel(f"{side}: {exc}") from None
    return out


def parse_columns(raw: object, side: str) -> Columns:
    """Like parse_levels, as (prices, sizes) columns, and several times faster: the structure is
    checked and both columns are looked up in C. Accepts exactly what parse_levels accepts (any
    failure of the fast path, even a bad level, is handed to parse_levels for the verdict)."""
    if type(raw) is list:
        if not raw:
            return (), ()
        try:
            if max(map(_list_len, raw)) == 2:
                prices, sizes = zip(*raw, strict=True)  # ValueError unless all have one length
                return tuple(map(_PRICES.__getitem__, prices)), tuple(map(_SIZES.__getitem__, sizes))
        except (TypeError, ValueError):  # BadLevel included: parse_levels reports it with the side
            pass
    levels = parse_levels(raw, side)
    return tuple(p for p, _ in levels), tuple(s for _, s in levels)


def to_text(value: int) -> str:
    """Fixed point -> the exchange's 8-decimal string (used by the simulator)."""
    whole, frac = divmod(value, SCALE)
    return f"{whole}.{frac:08d}"


class OrderBook:
    """A full local book. `apply` takes absolute sizes (Binance semantics: size 0 removes).

    Invariant per side: the window is sorted and holds exactly the best len(window) prices of the
    side's dict; every price outside it is worse than all prices inside. Bids' window ascends
    (best last), asks' window ascends (best first)."""

    __slots__ = (
        "_bids",
        "_asks",
        "_bid_win",
        "_ask_win",
        "bounded",
        "_bid_bound",
        "_ask_bound",
        "_bid_known",
        "_ask_known",
    )

    def __init__(self) -> None:
        self._bids: dict[int, int] = {}  # price -> size
        self._asks: dict[int, int] = {}
        self._bid_win: list[int] = []  # best bids, ascending (best last)
        self._ask_win: list[int] = []  # best asks, ascending (best first)
        # The snapshot's boundary per side (see the module docstring): bids at or above
        # `_bid_bound`, asks at or below `_ask_bound` are known complete, and `_*_known` counts
        # them. A whole side (its snapshot was not full) has the bound that takes every price.
        self.bounded = False  # either side's snapshot was full at its limit
        self._bid_bound = 0
        self._ask_bound = _ABOVE_ALL
        self._bid_known = 0
        self._ask_known = 0

    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self._bid_win.clear()
        self._ask_win.clear()
        self.bounded = False
        self._bid_bound, self._ask_bound = 0, _ABOVE_ALL
        self._bid_known = self._ask_known = 0

    def load(self, bids: Levels | Columns, asks: Levels | Columns, limit: int | None = None) -> None:
        """Replace the whole book (a REST snapshot, or a partial-depth frame). `limit`: the number
        of levels per side the snapshot was asked for; a side that has that many is the top of a
        deeper book, and its last level is the side's boundary (None: both sides are whole)."""
        self._bids = {p: s for p, s in (zip(*bids, strict=True) if type(bids) is tuple else bids) if s}
        self._asks = {p: s for p, s in (zip(*asks, strict=True) if type(asks) is tuple else asks) if s}
        self._bid_win = sorted(nlargest(_WINDOW, self._bids))
        self._ask_win = nsmallest(_WINDOW, self._asks)
        full_bids = limit is not None and len(self._bids) >= limit > 0
        full_asks = limit is not None and len(self._asks) >= limit > 0
        self.bounded = full_bids or full_asks
        self._bid_bound = min(self._bids) if full_bids else 0
        self._ask_bound = max(self._asks) if full_asks else _ABOVE_ALL
        self._bid_known = len(self._bids)
        self._ask_known = len(self._asks)

    def known_levels(self, side: str) -> int | None:
        """Levels of a bounded side known complete (at or inside its boundary); None: the side
        is whole, every level of it is known."""
        if side == "bids":
            return self._bid_known if self._bid_bound else None
        return self._ask_known if self._ask_bound != _ABOVE_ALL else None

    def boundary(self, side: str) -> int | None:
        """The side's boundary price (its snapshot's last level), None for a whole side."""
        if side == "bids":
            return self._bid_bound or None
        return self._ask_bound if self._ask_bound != _ABOVE_ALL else None

    def short_side(self, n: int) -> str | None:
        """The first side ("bids", "asks") of a bounded book with fewer than n levels known
        complete: its top n may hold levels past the boundary, which the book may not know all
        of. None: both sides can publish a true top n."""
        if self._bid_bound and self._bid_known < n:
            return "bids"
        if self._ask_bound != _ABOVE_ALL and self._ask_known < n:
            return "asks"
        return None

    def apply(self, bids: Levels | Columns, asks: Levels | Columns) -> None:
        """Apply one event's levels in order: (price, size) pairs or (prices, sizes) columns."""
        if bids:
            self._apply_bids(zip(*bids, strict=True) if type(bids) is tuple else bids)
        if asks:
            self._apply_asks(zip(*asks, strict=True) if type(asks) is tuple else asks)

    def _apply_bids(self, levels: Any) -> None:
        book = self._bids
        win = self._bid_win
        # Prices above the edge are in the window; all others are below it. The window is empty
        # only while the book is, and then every price belongs in it.
        edge = win[0] if win else 0
        bound = self._bid_bound
        known = self._bid_known
        for price, size in levels:
            if size:
                if price not in book:
                    if price >= bound:
                        known += 1
                    if price > edge:
                        insort(win, price)
                book[price] = size
            elif book.pop(price, None) is not None:
                if price >= bound:
                    known -= 1
                if price >= edge:
                    del win[bisect_left(win, price)]
        self._bid_known = known
        if len(win) > _WINDOW_MAX:
            del win[:-_WINDOW]
        elif len(win) < _WINDOW_MIN and len(book) > len(win):
            self._bid_win = sorted(nlargest(_WINDOW, book))

    def _apply_asks(self, levels: Any) -> None:
        book = self._asks
        win = self._ask_win
        edge = win[-1] if win else _ABOVE_ALL
        bound = self._ask_bound
        known = self._ask_known
        for price, size in levels:
            if size:
                if price not in book:
                    if price <= bound:
                        known += 1
                    if price < edge:
                        insort(win, price)
                book[price] = size
            elif book.pop(price, None) is not None:
                if price <= bound:
                    known -= 1
                if price <= edge:
                    del win[bisect_left(win, price)]
        self._ask_known = known
        if len(win) > _WINDOW_MAX:
            del win[_WINDOW:]
        elif len(win) < _WINDOW_MIN and len(book) > len(win):
            self._ask_win = nsmallest(_WINDOW, book)

    def _widen(self, n: int) -> None:
        """Refill both windows to at least n levels (a caller wants more than they hold)."""
        size = max(n, _WINDOW)
        if len(self._bid_win) < n and len(self._bids) > len(self._bid_win):
            self._bid_win = sorted(nlargest(size, self._bids))
        if len(self._ask_win) < n and len(self._asks) > len(self._ask_win):
            self._ask_win = nsmallest(size, self._asks)

    def top(self, n: int) -> tuple[list[float], list[float], list[float], list[float]]:
        """Top n levels per side as floats: bid prices (descending), bid sizes, ask prices
        (ascending), ask sizes."""
        bid_win, ask_win = self._bid_win, self._ask_win
        if (len(bid_win) < n and len(self._bids) > len(bid_win)) or (
            len(ask_win) < n and len(self._asks) > len(ask_win)
        ):
            self._widen(n)
            bid_win, ask_win = self._bid_win, self._ask_win
        bk = bid_win[: -n - 1 : -1]
        ak = ask_win[:n]
        as_float = _FLOATS.__getitem__
        return (
            list(map(as_float, bk)),
            list(map(as_float, map(self._bids.__getitem__, bk))),
            list(map(as_float, ak)),
            list(map(as_float, map(self._asks.__getitem__, ak))),
        )

    def best_bid(self) -> tuple[int, int] | None:
        if not self._bid_win:
            return None
        p = self._bid_win[-1]
        return p, self._bids[p]

    def best_ask(self) -> tuple[int, int] | None:
        if not self._ask_win:
            return None
        p = self._ask_win[0]
        return p, self._asks[p]

    def is_crossed(self) -> bool:
        """Best bid >= best ask: impossible on a correct book, so a symptom of a broken one."""
        return bool(self._bid_win and self._ask_win and self._bid_win[-1] >= self._ask_win[0])

    def levels(self, side: str, n: int | None = None) -> Levels:
        """Exact (price, size) levels of one side, best first."""
        if side == "bids":
            book = self._bids
            if n is None:
                prices = sorted(book, reverse=True)
            else:
                if len(self._bid_win) < n and len(book) > len(self._bid_win):
                    self._widen(n)
                prices = self._bid_win[: -n - 1 : -1]
        else:
            book = self._asks
            if n is None:
                prices = sorted(book)
            else:
                if len(self._ask_win) < n and len(book) > len(self._ask_win):
                    self._widen(n)
                prices = self._ask_win[:n]
        return [(p, book[p]) for p in prices]

    def side_len(self, side: str) -> int:
        """Number of levels on one side."""
        return len(self._bids if side == "bids" else self._asks)

    def size_at(self, side: str, price: int) -> int:
        return (self._bids if side == "bids" else self._asks).get(price, 0)

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)
