"""Rows of the Analytics page's tables for the dashboard tests, written as the PostgreSQL sink
stores them: trade bars of a new symbol (exact decimals), a new pair's records (the independent
reference's, tests/flink/reference_pairs.py), both ending now, and raw trades of a new symbol
(stored by the sink itself). Names are unique per call, so tests
sharing the session's database never see each other's rows."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import numpy as np
import orjson
import pandas as pd
import psycopg

from config import PairSettings, PostgresSettings
from schemas.registry import load_schema
from schemas.topics import Topic
from sinks.batching import SinkBatch, SinkRecord
from sinks.postgres_sink import PostgresSink
from tests.flink.reference_pairs import cointegrated_bars, reference_records

BAR_COLUMNS = ("open", "high", "low", "close", "volume", "quote_volume", "vwap", "trade_count",
               "buy_volume", "sell_volume", "volume_delta")  # fmt: skip


def seed_trade_bars(pg_settings: PostgresSettings) -> tuple[str, list[tuple]]:
    """1 s bars of the last 90 s and 1 min bars of the last 10 min of a new symbol, as the sink
    stores them (exact decimals)."""
    symbol = f"TB{uuid.uuid4().hex[:8].upper()}USDT"
    now_s = int(time.time())
    rng = np.random.default_rng(7)
    rows = []
    for interval, size_s, count in (("1s", 1, 90), ("1m", 60, 10)):
        first = now_s // size_s * size_s - (count - 1) * size_s
        for i in range(count):
            o, c = (Decimal(f"{2500 + rng.integers(-500, 500) / 100:.2f}") for _ in range(2))
            h, low = max(o, c) + Decimal("0.37"), min(o, c) - Decimal("0.21")
            buy, sell = (
                Decimal(f"{rng.integers(1, 9999) / 1000:.3f}"),
                Decimal(f"{rng.integers(1, 999) / 1000:.3f}"),
            )
            volume = buy + sell
            quote = volume * (o + c) / 2
            start = pd.Timestamp((first + i * size_s) * 1000, unit="ms", tz="UTC")
            rows.append((start, start + pd.Timedelta(seconds=size_s), "binance", "spot", symbol, interval,
                         o, h, low, c, volume, quote, float(quote / volume), int(rng.integers(1, 50)),
                         buy, sell, buy - sell))  # fmt: skip
    with psycopg.connect(pg_settings.conninfo()) as conn:
        conn.cursor().executemany(
            'INSERT INTO trade_bars (window_start, window_end, exchange, market, symbol, "interval", '
            f"{', '.join(BAR_COLUMNS)}) VALUES ({', '.join(['%s'] * 17)})",
            rows,
        )
    return f"binance:{symbol}", rows


def seed_pair(pg_settings: PostgresSettings) -> tuple[str, list[dict]]:
    """Ten minutes of a new pair's records (the independent reference's, as the job would emit
    them) ending now, stored as the sink stores them."""
    suffix = uuid.uuid4().hex[:6].upper()
    y, x = f"binance:Y{suffix}USDT", f"binance:X{suffix}USDT"
    settings = PairSettings(window_s=60, min_points=20, fill_max_age_ms=3_000, adf_every_s=7, adf_points=50)
    start = (int(time.time()) - 600) * 1000
    y_bars, x_bars = cointegrated_bars(seed=11, seconds=600, start_ms=start)
    records = reference_records(y_bars, x_bars, f"{y}/{x}", settings)
    columns = ("ts", "pair", "y", "x", "y_close", "x_close", "y_fill_age_ms", "x_fill_age_ms", "points",
               "beta", "alpha", "r_squared", "spread", "spread_mean", "spread_std", "zscore", "return_corr",
               "half_life_s", "adf_stat", "adf_pvalue", "adf_lags", "adf_time")  # fmt: skip

    def row(r):
        def at(ms):
            return None if ms is None else pd.Timestamp(ms, unit="ms", tz="UTC")

        values = {**r, "ts": at(r["event_time"]), "adf_time": at(r["adf_time"])}
        values = {k: (float(v) if isinstance(v, np.floating) else v) for k, v in values.items()}
        return tuple(values[c] for c in columns)

    with psycopg.connect(pg_settings.conninfo()) as conn:
        conn.cursor().executemany(
            f"INSERT INTO pair_analytics ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
            [row(r) for r in records],
        )
    return f"{y}/{x}", records


def seed_trades(pg_settings: PostgresSettings, count: int = 50) -> tuple[str, list[dict]]:
    """`count` trades.raw records of a new symbol over the last minutes, stored by the PostgreSQL
    sink; returns the symbol's key and the records in (time, trade id) order."""
    symbol = f"TR{uuid.uuid4().hex[:8].upper()}USDT"
    start = (int(time.time()) - 300) * 1000
    example = load_schema(Topic.TRADES)["examples"][0]
    trades = [
        {
            **example,
            "symbol": symbol,
            "trade_id": str(7_000 + i),
            "event_time": start + 997 * i,
            "price": f"2511.{i:02d}000001",
            "size": f"0.{i + 1:03d}",
            "side": ("buy", "sell")[i % 3 == 0],
            "receive_time_ns": (start + 997 * i) * 1_000_000 + 5,
        }  # fmt: skip
        for i in range(count)
    ]
    records = [
        SinkRecord(Topic.TRADES, Topic.TRADES.value, 0, i, f"binance:{symbol}".encode(), orjson.dumps(t), 1)
        for i, t in enumerate(trades)
    ]
    sink = PostgresSink(pg_settings)
    sink.setup()
    try:
        result = sink.write(SinkBatch(records))
    finally:
        sink.close()
    assert result.stored == {Topic.TRADES: count} and not result.dlq, result.dlq
    return f"binance:{symbol}", trades
