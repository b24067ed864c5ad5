"""The book engine of venues that count sizes in contracts (Binance COIN-M, OKX swaps, ...).

`orderbook.raw` carries sizes in base units for every venue, so that the same instrument can be
compared across venues. The book itself stays exact in the venue's own units (contracts, as the
frames give them: chains, checksums and snapshots are in those units); only the published top N
is converted, per level:

- linear contracts (the contract is worth `contract_size` base units, e.g. OKX BTC-USDT-SWAP,
  0.01 BTC): `size_base = contracts * contract_size`;
- inverse contracts (the contract is worth `contract_size` quote units, e.g. Binance COIN-M
  BTCUSD_PERP, 100 USD): `size_base = contracts * contract_size / price`.

Both are one `int / int` true division of exact integers (fixed-point size and price, the contract
size as a ratio of integers), so the published float is the nearest double to the exact value,
like every other number of the record. The contract size comes from the venue's listing
(`ExchangeSpec.parse_instruments`), which the service reads before any connection opens
(`BookEngine.use_instrument`); a book asked to publish without one is a bug and says so. The
records of these books also carry the normalized instrument (`base`, `quote`, `kind`,
`contract_size`: optional fields of orderbook.raw), so one instrument can be compared across venues.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from producer.book import _CACHE_MAX, _FLOATS, SCALE, OrderBook
from producer.exchanges.spec import ExchangeSpec, Instrument
from producer.sync import BookSync

if TYPE_CHECKING:
    from producer.engine import BookEngine
    from producer.exchanges.spec import Continuity


class _LinearSizes(dict[int, float]):
    """Fixed-point contracts -> base units of a linear contract, the float of the same int / int
    division as computed each time (a book's sizes repeat: most levels keep theirs)."""

    __slots__ = ("num", "scale")

    def __init__(self, num: int, scale: int) -> None:
        super().__init__()
        self.num, self.scale = num, scale

    def __missing__(self, size: int) -> float:
        value = size * self.num / self.scale
        if len(self) >= _CACHE_MAX:
            self.clear()
        self[size] = value
        return value


class ContractBook(OrderBook):
    """An exact book in the venue's units whose `top` publishes base units: contracts converted
    by the instrument's contract size, or unchanged for an instrument listed without one (OKX
    spot, on the same engine as its swaps)."""

    __slots__ = ("symbol", "_num", "_den", "_mode", "_linear")

    def __init__(self, symbol: str) -> None:
        super().__init__()
        self.symbol = symbol
        self._num = 0  # contract size = _num / _den
        self._den = 1
        self._mode = ""  # base | linear | inverse; empty until the instrument is known
        self._linear = _LinearSizes(0, 1)

    def use_instrument(self, instrument: Instrument) -> None:
        ratio = instrument.base_size_ratio()
        if ratio is None:
            self._mode = "base"
            return
        self._num, self._den = ratio
        self._mode = "inverse" if instrument.inverse else "linear"
        self._linear = _LinearSizes(self._num, self._den * SCALE)

    def top_prices(self, n: int) -> tuple[list[int], list[int]]:
        """The best n bid prices (descending) and ask prices (ascending), exact."""
        if (len(self._bid_win) < n and len(self._bids) > len(self._bid_win)) or (
            len(self._ask_win) < n and len(self._asks) > len(self._ask_win)
        ):
            self._widen(n)
        return self._bid_win[: -n - 1 : -1], self._ask_win[:n]

    def top(self, n: int) -> tuple[list[float], list[float], list[float], list[float]]:
        if self._mode == "base":
            return super().top(n)
        if not self._mode:
            raise RuntimeError(f"{self.symbol}: instrument unknown: use_instrument was not called")
        bk, ak = self.top_prices(n)
        bid_contracts = list(map(self._bids.__getitem__, bk))
        ask_contracts = list(map(self._asks.__getitem__, ak))
        if self._mode == "inverse":
            num, den = self._num, self._den
            bid_sizes = [s * num / (den * p) for p, s in zip(bk, bid_contracts, strict=True)]
            ask_sizes = [s * num / (den * p) for p, s in zip(ak, ask_contracts, strict=True)]
        else:  # the same s * num / (den * SCALE) through a cache of this book's sizes
            as_base = self._linear.__getitem__
            bid_sizes = list(map(as_base, bid_contracts))
            ask_sizes = list(map(as_base, ask_contracts))
        as_float = _FLOATS.__getitem__  # p / SCALE, cached
        return list(map(as_float, bk)), bid_sizes, list(map(as_float, ak)), ask_sizes


class ContractBookSync(BookSync):
    """The Python engine over a ContractBook: same procedure, base-unit sizes in the record."""

    __slots__ = ()

    def __init__(
        self,
        symbol: str,
        continuity: Continuity,
        max_buffer: int = 100_000,
        *,
        exchange: str | None = None,
        market: str | None = None,
        depth: int = 20,
    ) -> None:
        super().__init__(symbol, continuity, max_buffer, exchange=exchange, market=market, depth=depth)
        self.book = ContractBook(symbol)

    @classmethod
    def create(cls, spec: ExchangeSpec, symbol: str, depth: int) -> ContractBookSync:
        return cls(symbol, spec.continuity, exchange=spec.id, market=spec.market, depth=depth)

    @classmethod
    def compiled(cls, spec: ExchangeSpec | None) -> type[BookEngine] | None:
        """None: the compiled Binance book publishes base units only (COIN-M, Gate.io stay here)."""
        return None

    def use_instrument(self, instrument: Instrument) -> None:
        self.book.use_instrument(instrument)
        super().use_instrument(instrument)
