"""Binance COIN-M futures: combined streams on dstream.binance.com, REST on dapi.binance.com.

The book procedure is USD-M's (Binance, "How to manage a local order book correctly", COIN-M
edition): buffer `<symbol>@depth@100ms`, fetch `/dapi/v1/depth?limit=1000`, drop events with
u < lastUpdateId, the first applied one has U <= lastUpdateId <= u, then each event's pu equals
the previous event's u. The frames have USD-M's shape (plus `ps`, the pair), so USD-M's parsers
are used as they are.

What differs: symbols name a contract (`BTCUSD_PERP`, `BTCUSD_250926`), and sizes are contracts,
each worth `contractSize` USD (100 for BTC, 10 for the others, from `/dapi/v1/exchangeInfo`).
The books stay in contracts; records publish base units, size_base = contracts * contractSize /
price (producer/contract_sync.py). Limits: 2400 request weight per minute, depth weight as USD-M
(limit 1000: 20), at most 200 streams per connection (Binance's documented COIN-M limit).
"""

from __future__ import annotations

from typing import Any

from producer.exchanges import binance_usdm
from producer.exchanges.spec import Continuity, ExchangeSpec, Instrument, decimal_field


def book_engine() -> type:
    """Sizes in contracts: the Python engine over a book that publishes base units."""
    from producer.contract_sync import ContractBookSync  # engines import the exchange modules

    return ContractBookSync


def parse_instruments(body: Any) -> dict[str, Instrument]:
    """`/dapi/v1/exchangeInfo`: `symbols[]` with symbol, contractStatus (COIN-M's status field),
    baseAsset, quoteAsset, contractType (PERPETUAL or a delivery) and contractSize (USD)."""
    out = {}
    for item in body["symbols"]:
        status = item.get("contractStatus") or item.get("status") or ""
        out[item["symbol"]] = Instrument(
            symbol=item["symbol"],
            status=status,
            trading=status == "TRADING",
            base=str(item.get("baseAsset", "")),
            quote=str(item.get("quoteAsset", "")),
            kind="perp" if item.get("contractType") == "PERPETUAL" else "future",
            contract_size=decimal_field(item, "contractSize"),
            inverse=True,
        )
    return out


EXCHANGE = ExchangeSpec(
    id="binance_coinm",
    market="coinm",
    ws_url="wss://dstream.binance.com",
    rest_url="https://dapi.binance.com",
    depth_path="/dapi/v1/depth",
    exchange_info_path="/dapi/v1/exchangeInfo",
    continuity=Continuity.PREV_FINAL_ID,
    max_streams_per_connection=200,
    max_connection_age_s=24 * 3600 - 15 * 60,
    weight_limit_1m=2400,
    snapshot_limit=1000,
    partial_depths=(5, 10, 20),
    diff_channel=lambda symbol: f"{symbol.lower()}@depth@100ms",
    partial_channel=lambda symbol, depth: f"{symbol.lower()}@depth{depth}@100ms",
    snapshot_weight=binance_usdm.snapshot_weight,
    parse_diff=binance_usdm.parse_diff,
    parse_partial=binance_usdm.parse_partial,
    parse_snapshot=binance_usdm.parse_snapshot,
    parse_instruments=parse_instruments,
    needs_instruments=True,
    book_engine=book_engine,
)
