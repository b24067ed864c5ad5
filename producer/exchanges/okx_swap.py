"""OKX perpetual swaps: USDT-margined (`BTC-USDT-SWAP`, linear: ctVal in the base currency,
0.01 BTC) and coin-margined (`BTC-USD-SWAP`, inverse: ctVal in USD, 100). The protocol is
OKX spot's (producer/exchanges/okx_spot.py); sizes are contracts, published as base units
(contracts * ctVal, or contracts * ctVal / price for inverse swaps; producer/contract_sync.py),
with ctVal from `/api/v5/public/instruments?instType=SWAP`."""

from __future__ import annotations

from producer.exchanges.okx_spot import okx_spec

EXCHANGE = okx_spec("okx_swap", "swap", "SWAP")
