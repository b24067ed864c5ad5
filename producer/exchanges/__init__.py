"""The registry of exchange modules. Each module in this package declares one `EXCHANGE`
(an ExchangeSpec) and is listed here; a unit test fails when a module exists but is not
registered, so a new exchange cannot be half added."""

from __future__ import annotations

from producer.exchanges import (
    binance_coinm,
    binance_spot,
    binance_usdm,
    bybit_inverse,
    bybit_linear,
    bybit_spot,
    gateio_futures,
    gateio_spot,
    hyperliquid_perp,
    hyperliquid_spot,
    okx_spot,
    okx_swap,
)
from producer.exchanges.spec import BadFrame, BookSnapshot, Continuity, DepthEvent, ExchangeSpec

EXCHANGES: dict[str, ExchangeSpec] = {
    spec.id: spec
    for spec in (
        binance_spot.EXCHANGE,
        binance_usdm.EXCHANGE,
        binance_coinm.EXCHANGE,
        okx_spot.EXCHANGE,
        okx_swap.EXCHANGE,
        bybit_spot.EXCHANGE,
        bybit_linear.EXCHANGE,
        bybit_inverse.EXCHANGE,
        gateio_spot.EXCHANGE,
        gateio_futures.EXCHANGE,
        hyperliquid_perp.EXCHANGE,
        hyperliquid_spot.EXCHANGE,
    )
}


class UnknownExchange(ValueError):
    pass


def resolve(exchange: str, market: str) -> ExchangeSpec:
    """The spec for ProducerSettings' (exchange, market): ("binance", "usdm") -> binance_usdm."""
    for spec in EXCHANGES.values():
        if market == spec.market and exchange in (spec.id, spec.id.split("_", 1)[0]):
            return spec
    known = ", ".join(f"{s.id} ({s.market})" for s in EXCHANGES.values())
    raise UnknownExchange(f"no exchange module for exchange={exchange!r} market={market!r}; known: {known}")


__all__ = [
    "EXCHANGES",
    "BadFrame",
    "BookSnapshot",
    "Continuity",
    "DepthEvent",
    "ExchangeSpec",
    "UnknownExchange",
    "resolve",
]
