"""What a producer of each venue watches when nobody names its market or symbols: the embedded
stack's `obm up --exchanges binance,okx,...` and Compose's per-venue producer services read these.

The symbols are chosen so that the same instruments (BTC and ETH against the dollar: USDT, or
USDC on Hyperliquid, where perps are quoted in USDC) appear on every venue, in each venue's own
spelling; the records' normalized instrument (base, quote, kind) is what lines them up across
venues. Each default is listed by the simulator too (its symbols are the union of the producers'),
so the same set runs offline.
"""

from __future__ import annotations

from producer.exchanges import resolve

# The market a bare venue name means (`--exchanges okx` is OKX spot).
DEFAULT_MARKETS: dict[str, str] = {
    "binance": "spot",
    "okx": "spot",
    "bybit": "spot",
    "gateio": "spot",
    "hyperliquid": "perp",
}

# Per exchange module (ExchangeSpec.id): the venue's own ids of BTC and ETH against the dollar.
DEFAULT_SYMBOLS: dict[str, tuple[str, ...]] = {
    "binance": ("BTCUSDT", "ETHUSDT", "SOLUSDT"),
    "binance_usdm": ("BTCUSDT", "ETHUSDT"),
    "binance_coinm": ("BTCUSD_PERP", "ETHUSD_PERP"),
    "okx": ("BTC-USDT", "ETH-USDT"),
    "okx_swap": ("BTC-USDT-SWAP", "ETH-USDT-SWAP"),
    "bybit": ("BTCUSDT", "ETHUSDT"),
    "bybit_linear": ("BTCUSDT", "ETHUSDT"),
    "bybit_inverse": ("BTCUSD", "ETHUSD"),
    "gateio": ("BTC_USDT", "ETH_USDT"),
    "gateio_futures": ("BTC_USDT", "ETH_USDT"),
    "hyperliquid": ("BTC", "ETH"),
    "hyperliquid_spot": ("HYPE-USDC",),  # the simulator's spot pairs are BASE-USDC; BTC is not one
}


class VenueChoiceError(ValueError):
    pass


def parse_venue(entry: str) -> tuple[str, str]:
    """`okx` -> ("okx", "spot"), `okx:swap` -> ("okx", "swap"); refuses what no module serves."""
    venue, _, market = entry.strip().lower().partition(":")
    if not market:
        if venue not in DEFAULT_MARKETS:
            raise VenueChoiceError(f"unknown venue {venue!r}; known: {', '.join(DEFAULT_MARKETS)}")
        market = DEFAULT_MARKETS[venue]
    try:
        resolve(venue, market)
    except ValueError as exc:
        raise VenueChoiceError(str(exc)) from exc
    return venue, market


def default_symbols(venue: str, market: str) -> list[str]:
    return list(DEFAULT_SYMBOLS[resolve(venue, market).id])
