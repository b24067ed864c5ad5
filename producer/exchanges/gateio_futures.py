"""Gate.io (API v4) USDT-settled perpetual futures: the protocol of gateio_spot.py on
`wss://fx-ws.gateio.ws/v4/ws/usdt` with the `futures.` channels (`futures.order_book_update`,
payload `["BTC_USDT", "100ms"]`: no level argument, so every changed level is sent;
`futures.ping`/`futures.pong`) and the snapshot from
`/api/v4/futures/usdt/order_book?contract=..&limit=100&with_id=true`.

What differs from spot: levels are objects `{"p": "60000.1", "s": 120}` (price string, size an
integer number of contracts; a decimal string is accepted too, as Gate.io has announced
fractional sizes on some contracts), and sizes are contracts. The books stay exact in
contracts; records publish base units, size_base = contracts * quanto_multiplier
(producer/contract_sync.py, linear), with `quanto_multiplier` (the base units one contract is
worth, e.g. "0.0001" BTC for BTC_USDT) read from `/api/v4/futures/usdt/contracts` before any
connection opens.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from producer.book import _CACHE_MAX, _PRICES, MAX_FIXED, SCALE, BadLevel, Columns, parse_columns
from producer.exchanges.gateio_spot import INTERVAL, gateio_spec
from producer.exchanges.spec import BadFrame, Instrument, decimal_field


class _Contracts(dict[int, int]):
    """Integer contract counts -> fixed point, for the common frame whose sizes are all ints (the
    caller checks their types: True or 1.0 would find 1's entry). A count the checked path would
    refuse (negative, out of range) raises ValueError, and that path gives the reason."""

    def __missing__(self, contracts: int) -> int:
        if not 0 <= contracts < _MAX_CONTRACTS:
            raise ValueError(contracts)
        if len(self) >= _CACHE_MAX:
            self.clear()
        value = self[contracts] = contracts * SCALE
        return value


_MAX_CONTRACTS = -(-MAX_FIXED // SCALE)  # contracts * SCALE < MAX_FIXED, as parse_fixed requires
_CONTRACTS = _Contracts()
_price_of, _size_of = itemgetter("p"), itemgetter("s")
_INTS = {int}


def futures_side(raw: Any, key: str) -> Columns:
    """[{"p": price string, "s": contracts (int or decimal string)}, ...] -> exact columns. Levels
    whose sizes are all integers take a path of cached lookups done in C; anything else (decimal
    strings, a bad level) the level-by-level one, which accepts the same and names what is wrong."""
    if type(raw) is list and raw:
        try:
            sizes = list(map(_size_of, raw))  # a level that is no object: TypeError
            if set(map(type, sizes)) == _INTS:
                prices = tuple(map(_PRICES.__getitem__, map(_price_of, raw)))
                return prices, tuple(map(_CONTRACTS.__getitem__, sizes))
        except (KeyError, TypeError, ValueError):  # BadLevel included: the checked path reports it
            pass
    try:
        pairs = [[level["p"], str(size) if type(size := level["s"]) is int else size] for level in raw]
    except (KeyError, TypeError):
        raise BadFrame(_not_levels(raw, key)) from None
    try:
        return parse_columns(pairs, key)
    except BadLevel as exc:
        raise BadFrame(str(exc)) from None


def _not_levels(raw: Any, key: str) -> str:
    """Why `raw` is not a list of {p, s} levels."""
    if type(raw) is not list:
        return f"{key}: expected a list of {{p, s}} levels, got {type(raw).__name__}"
    bad = next(
        (level for level in raw if type(level) is not dict or "p" not in level or "s" not in level), raw
    )
    return f"{key}: level is not {{p, s}}: {bad!r}"


def parse_instruments(body: Any) -> dict[str, Instrument]:
    """`/api/v4/futures/usdt/contracts`: a list of {name, quanto_multiplier, in_delisting,
    status (newer listings: "trading")}; names are BASE_QUOTE."""
    if type(body) is not list:
        raise BadFrame("not a list of contracts")
    out = {}
    for item in body:
        name = item["name"]
        status = str(item.get("status") or ("delisting" if item.get("in_delisting") else "trading"))
        base, _, quote = name.partition("_")
        out[name] = Instrument(
            symbol=name,
            status=status,
            trading=status == "trading" and not item.get("in_delisting"),
            base=base,
            quote=quote,
            kind="perp",
            contract_size=decimal_field(item, "quanto_multiplier"),
        )
    return out


EXCHANGE = gateio_spec(
    "gateio_futures",
    "futures",
    "futures",
    ws_url="wss://fx-ws.gateio.ws",
    ws_path="/v4/ws/usdt",
    depth_path="/api/v4/futures/usdt/order_book",
    exchange_info_path="/api/v4/futures/usdt/contracts",
    side=futures_side,
    symbol_param="contract",
    payload_tail=[INTERVAL],
    parse_instruments=parse_instruments,
    unknown_symbol_error=b"CONTRACT_NOT_FOUND",
)
