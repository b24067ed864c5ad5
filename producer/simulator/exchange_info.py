"""The simulator's `exchangeInfo` answers, shaped like Binance's: spot (`/api/v3/exchangeInfo`,
filterable by `symbol`/`symbols`) and USD-M (`/fapi/v1/exchangeInfo`, all symbols, as
perpetuals). What the producer's start-up check reads: `symbols[].symbol` and `.status`."""

from __future__ import annotations

import time
from typing import Any

from producer.simulator.market_model import symbol_info


def _filters(symbol: str) -> list[dict[str, str]]:
    info = symbol_info(symbol)
    return [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": "0.00000001",
            "maxPrice": "1000000.00000000",
            "tickSize": f"{info.tick / 1e8:.8f}",
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": "0.00010000",
            "maxQty": "9000.00000000",
            "stepSize": f"{info.lot / 1e8:.8f}",
        },
    ]


def _answer(weight_limit: int, symbols: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "serverTime": time.time_ns() // 10**6,
        **extra,
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": weight_limit}
        ],
        "symbols": symbols,
    }


def spot_exchange_info(symbols: list[str]) -> dict[str, Any]:
    listed = []
    for s in symbols:
        info = symbol_info(s)
        listed.append(
            {
                "symbol": s,
                "status": "TRADING",
                "baseAsset": info.base_asset,
                "quoteAsset": info.quote_asset,
                "filters": _filters(s),
            }
        )
    return _answer(6000, listed)


def usdm_exchange_info(symbols: list[str]) -> dict[str, Any]:
    listed = []
    for s in symbols:
        info = symbol_info(s)
        listed.append(
            {
                "symbol": s,
                "pair": s,
                "contractType": "PERPETUAL",
                "status": "TRADING",
                "baseAsset": info.base_asset,
                "quoteAsset": info.quote_asset,
                "marginAsset": info.quote_asset,
                "filters": _filters(s),
            }
        )
    return _answer(2400, listed, futuresType="U_MARGINED")


def coinm_contract_size(symbol: str) -> int:
    """USD per contract, as Binance COIN-M lists them: 100 for BTC, 10 for the others."""
    return 100 if symbol.startswith("BTC") else 10


def coinm_exchange_info(symbols: list[str]) -> dict[str, Any]:
    """COIN-M's `/dapi/v1/exchangeInfo`: symbols like BTCUSD_PERP (pair BTCUSD), contractStatus,
    contractSize in USD."""
    listed = []
    for s in symbols:
        pair, _, delivery = s.partition("_")
        listed.append(
            {
                "symbol": s,
                "pair": pair,
                "contractType": "PERPETUAL" if delivery in ("", "PERP") else "CURRENT_QUARTER",
                "contractStatus": "TRADING",
                "contractSize": coinm_contract_size(s),
                "baseAsset": pair[:-3],
                "quoteAsset": pair[-3:],
                "marginAsset": pair[:-3],
                "filters": _filters(s),
            }
        )
    return _answer(2400, listed)
