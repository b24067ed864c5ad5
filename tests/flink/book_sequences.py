"""Synthetic orderbook.raw sequences for the bounded tests: random-walk books with the awkward
cases a real feed has (an empty side, fewer levels than asked, equal event times, records a
little out of order, two symbols interleaved)."""

from __future__ import annotations

import random
from typing import Any


def raw_record(
    symbol: str,
    event_time: int,
    seq: int,
    bids: list[tuple[float, float]],
    asks: list[tuple[float, float]],
    exchange: str = "binance",
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "exchange": exchange,
        "market": "spot",
        "symbol": symbol,
        "event_time": event_time,
        "receive_time_ns": event_time * 1_000_000 + 123_456,
        "sequence_id": seq,
        "prev_sequence_id": seq - 1 if seq > 0 else None,
        "bid_prices": [p for p, _ in bids],
        "bid_sizes": [q for _, q in bids],
        "ask_prices": [p for p, _ in asks],
        "ask_sizes": [q for _, q in asks],
        "resynced": seq == 0,
        "crossed": bool(bids and asks and bids[0][0] >= asks[0][0]),
    }


def random_walk_books(n: int, *, seed: int, symbols: tuple[str, ...] = ("ETHUSDT", "BTCUSDT")) -> list[dict]:
    rng = random.Random(seed)
    records = []
    mids = {s: 100.0 * (i + 1) for i, s in enumerate(symbols)}
    clock = 1_723_161_240_000
    for k in range(n):
        sym = rng.choice(symbols)
        clock += rng.choice([0, 10, 50, 100, 100, 250, 700, 1500])
        t = clock - rng.choice([0, 0, 0, 0, 300])  # occasionally a little out of order
        mids[sym] += rng.gauss(0, 0.03)
        tick = 0.01
        depth_b, depth_a = rng.choice([20, 20, 20, 7, 1, 0]), rng.choice([20, 20, 20, 12, 3])
        spread_ticks = rng.choice([1, 1, 1, 2, 5])
        best_bid = round(mids[sym] - spread_ticks * tick / 2, 2)
        bids = [
            (round(best_bid - i * tick * rng.choice([1, 1, 3]), 2), rng.uniform(0.001, 8))
            for i in range(depth_b)
        ]
        bids = sorted(dict(bids).items(), reverse=True)
        best_ask = round(best_bid + spread_ticks * tick, 2)
        asks = [
            (round(best_ask + i * tick * rng.choice([1, 1, 3]), 2), rng.uniform(0.001, 8))
            for i in range(depth_a)
        ]
        asks = sorted(dict(asks).items())
        records.append(raw_record(sym, t, 1000 + k, bids, asks))
    return records
