"""Bybit v5 inverse contracts (`BTCUSD` perpetual, coin-margined futures, `/v5/public/inverse`):
the protocol of bybit_spot.py; quantities are contracts of 1 USD, published as base units
(contracts * 1 / price, producer/contract_sync.py)."""

from __future__ import annotations

from producer.exchanges.bybit_spot import bybit_spec

EXCHANGE = bybit_spec("bybit_inverse", "inverse")
