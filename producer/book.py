"""An exact order book: prices and sizes as fixed-point integers, never floats.

Binance sends prices and sizes as decimal strings with at most 8 fractional digits. Parsing them
into integers scaled by 10**8 keeps every level exact (two strings that mean the same number give
the same key; nothing is lost by rounding), and integer keys are cheap to hash, sort and bisect.
Floats appear only at the edge, when the top N levels are copied into a record; an int / int true
division is correctly rounded, so the published float is the nearest double to the exchange's
decimal, the same as `float(text)`.

Each side is a dict (price -> size) plus a sorted list of its prices. Bids are stored negated so
that on both sides the best level is the first element and the top N is a slice.
"""

from __future__ import annotations

from bisect import bisect_left, insort

SCALE_DIGITS = 8
SCALE = 10**SCALE_DIGITS

# (price, size) pairs in fixed point, as parsed from one side of a frame.
Levels = list[tuple[int, int]]


class BadLevel(ValueError):
    """A price or size that is not a plain non-negative decimal string (NaN, negative, float...)."""


def parse_fixed(text: str) -> int:
    """Decimal string -> integer scaled by 10**8, exactly. Raises BadLevel on anything else."""
    if type(text) is not str or "_" in text:  # int() accepts digit separators; exchanges never send them
        raise BadLevel(f"not a decimal string: {text!r}")
    try:
        if len(text) > 9 and text[-9] == ".":  # Binance's own format: exactly 8 decimals
            return int(text[:-9] + text[-8:])
        dot = text.find(".")
        if dot < 0:
            return int(text) * SCALE
        frac_len = len(text) - dot - 1
        if frac_len < SCALE_DIGITS:
            return int(text[:dot] + text[dot + 1 :] + "0" * (SCALE_DIGITS - frac_len))
        if text[dot + 1 + SCALE_DIGITS :].strip("0"):
            raise BadLevel(f"more than {SCALE_DIGITS} decimals: {text!r}")
        return int(text[:dot] + text[dot + 1 : dot + 1 + SCALE_DIGITS])
    except ValueError:
        raise BadLevel(f"not a decimal number: {text!r}") from None


# Prices repeat constantly (the same few thousand levels are updated over and over) and sizes
# often do, so a parsed string is remembered: a dict lookup is ~4x cheaper than parsing. Only
# strings that parsed are cached, so a hit needs no validation. Bounded by clearing.
_PARSED: dict[str, int] = {}
_PARSED_MAX = 500_000


def _parse_and_remember(text: str) -> int:
    value = parse_fixed(text)
    if len(_PARSED) >= _PARSED_MAX:
        _PARSED.clear()
    _PARSED[text] = value
    return value


def parse_levels(raw: object, side: str) -> Levels:
    """[[price, size], ...] -> [(price, size)] in fixed point, all validated before any is used,
    so a bad level rejects the whole frame instead of leaving a half-applied book."""
    if type(raw) is not list:
        raise BadLevel(f"{side}: expected a list of [price, size], got {type(raw).__name__}")
    out: Levels = []
    append = out.append
    get = _PARSED.get
    for level in raw:
        if type(level) is not list or len(level) != 2:
            raise BadLevel(f"{side}: level is not [price, size]: {level!r}")
        price, size = level
        try:
            p = get(price)
            q = get(size)
        except TypeError:  # unhashable, e.g. a nested list
            raise BadLevel(f"{side}: level is not [price, size]: {level!r}") from None
        if p is None:
            p = _parse_and_remember(price)
        if q is None:
            q = _parse_and_remember(size)
        if p <= 0:
            raise BadLevel(f"{side}: non-positive price {price!r}")
        if q < 0 or size[0] == "-":
            raise BadLevel(f"{side}: negative size {size!r}")
        append((p, q))
    return out


def to_text(value: int) -> str:
    """Fixed point -> the exchange's 8-decimal string (used by the simulator)."""
    whole, frac = divmod(value, SCALE)
    return f"{whole}.{frac:08d}"


class OrderBook:
    """A full local book. `apply` takes absolute sizes (Binance semantics: size 0 removes)."""

    __slots__ = ("_bids", "_asks", "_bid_keys", "_ask_keys")

    def __init__(self) -> None:
        self._bids: dict[int, int] = {}  # -price -> size
        self._asks: dict[int, int] = {}  # price -> size
        self._bid_keys: list[int] = []  # ascending -price, best first
        self._ask_keys: list[int] = []  # ascending price, best first

    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self._bid_keys.clear()
        self._ask_keys.clear()

    def load(self, bids: Levels, asks: Levels) -> None:
        """Replace the whole book (a REST snapshot, or a partial-depth frame)."""
        self._bids = {-p: s for p, s in bids if s}
        self._asks = {p: s for p, s in asks if s}
        self._bid_keys = sorted(self._bids)
        self._ask_keys = sorted(self._asks)

    def apply(self, bids: Levels, asks: Levels) -> None:
        if bids:
            _apply_side(self._bids, self._bid_keys, bids, -1)
        if asks:
            _apply_side(self._asks, self._ask_keys, asks, 1)

    def top(self, n: int) -> tuple[list[float], list[float], list[float], list[float]]:
        """Top n levels per side as floats: bid prices (descending), bid sizes, ask prices
        (ascending), ask sizes."""
        bk = self._bid_keys[:n]
        ak = self._ask_keys[:n]
        bids = self._bids
        asks = self._asks
        return (
            [-k / SCALE for k in bk],
            [bids[k] / SCALE for k in bk],
            [k / SCALE for k in ak],
            [asks[k] / SCALE for k in ak],
        )

    def best_bid(self) -> tuple[int, int] | None:
        if not self._bid_keys:
            return None
        k = self._bid_keys[0]
        return -k, self._bids[k]

    def best_ask(self) -> tuple[int, int] | None:
        if not self._ask_keys:
            return None
        k = self._ask_keys[0]
        return k, self._asks[k]

    def is_crossed(self) -> bool:
        """Best bid >= best ask: impossible on a correct book, so a symptom of a broken one."""
        return bool(self._bid_keys and self._ask_keys and -self._bid_keys[0] >= self._ask_keys[0])

    def levels(self, side: str, n: int | None = None) -> Levels:
        """Exact (price, size) levels of one side, best first."""
        if side == "bids":
            keys = self._bid_keys if n is None else self._bid_keys[:n]
            return [(-k, self._bids[k]) for k in keys]
        keys = self._ask_keys if n is None else self._ask_keys[:n]
        return [(k, self._asks[k]) for k in keys]

    def size_at(self, side: str, price: int) -> int:
        return self._bids.get(-price, 0) if side == "bids" else self._asks.get(price, 0)

    def __len__(self) -> int:
        return len(self._bid_keys) + len(self._ask_keys)


def _apply_side(sizes: dict[int, int], keys: list[int], levels: Levels, sign: int) -> None:
    for price, size in levels:
        key = sign * price
        if size == 0:
            if sizes.pop(key, None) is not None:
                del keys[bisect_left(keys, key)]
        else:
            if key not in sizes:
                insort(keys, key)
            sizes[key] = size
