"""Bybit v5 linear contracts (USDT and USDC perpetuals and futures, `/v5/public/linear`): the
protocol of bybit_spot.py; quantities are in the base coin, so sizes are base units as sent."""

from __future__ import annotations

from producer.exchanges.bybit_spot import bybit_spec

EXCHANGE = bybit_spec("bybit_linear", "linear")
