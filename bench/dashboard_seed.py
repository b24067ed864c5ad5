"""Synthetic market data in the storage contract's shapes, for the dashboard's tests and bench.

Records are built exactly as the topics' schemas say (tests validate them with
`schemas.validator_for`), then written where the sinks would write them: the PostgreSQL tables of
init-db.sql and the Redis layout. Prices follow a seeded random walk so a run is reproducible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import psycopg
import redis

from dashboard.redis_keys import RedisKeys

EXCHANGE = "binance"
MARKET = "spot"

BAR_DB_COLUMNS = (
    "window_start",
    "window_end",
    "exchange",
    "market",
    "symbol",
    "interval",
    "mid_open",
    "mid_high",
    "mid_low",
    "mid_close",
    "imbalance_mean",
    "imbalance_min",
    "imbalance_max",
    "spread_bps_mean",
    "spread_bps_max",
    "ofi_sum",
    "update_count",
    "microprice_last",
)
ALERT_DB_COLUMNS = (
    "ts",
    "alert_id",
    "alert_type",
    "severity",
    "exchange",
    "market",
    "symbol",
    "metric_value",
    "threshold",
    "window_start",
    "window_end",
    "event_time",
    "message",
)
SNAPSHOT_DB_COLUMNS = (
    "ts",
    "exchange",
    "symbol",
    "sequence_id",
    "bid_prices",
    "bid_sizes",
    "ask_prices",
    "ask_sizes",
)


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC)


@dataclass
class SymbolTape:
    """One symbol's synthetic 1 s history: mid and imbalance per second."""

    symbol: str
    start_ms: int
    mids: np.ndarray
    imbalances: np.ndarray
    spreads_bps: np.ndarray

    @property
    def key(self) -> str:
        return f"{EXCHANGE}:{self.symbol}"

    def end_ms(self) -> int:
        return self.start_ms + 1000 * len(self.mids)


def make_tape(symbol: str, start_ms: int, seconds: int, base_price: float, seed: int) -> SymbolTape:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.00015, seconds)
    mids = base_price * np.exp(np.cumsum(steps))
    imb = np.empty(seconds)
    x = 0.0
    shocks = rng.normal(0, 0.12, seconds)
    for i in range(seconds):  # AR(1): imbalance drifts and mean-reverts like a real book
        x = 0.97 * x + shocks[i]
        imb[i] = np.tanh(x)
    spreads = np.abs(rng.normal(1.0, 0.3, seconds)) + 0.2
    return SymbolTape(symbol, start_ms, mids, imb, spreads)


def bars_of(tape: SymbolTape) -> list[dict[str, Any]]:
    """orderbook.bars records (interval 1s), one per second of the tape."""
    bars = []
    prev = tape.mids[0]
    for i, mid in enumerate(tape.mids):
        start = tape.start_ms + i * 1000
        imb = float(tape.imbalances[i])
        bars.append(
            {
                "schema_version": 1,
                "exchange": EXCHANGE,
                "market": MARKET,
                "symbol": tape.symbol,
                "interval": "1s",
                "window_start": start,
                "window_end": start + 1000,
                "mid_open": float(prev),
                "mid_high": float(max(prev, mid) * 1.00002),
                "mid_low": float(min(prev, mid) * 0.99998),
                "mid_close": float(mid),
                "imbalance_mean": imb,
                "imbalance_min": max(-1.0, imb - 0.1),
                "imbalance_max": min(1.0, imb + 0.1),
                "spread_bps_mean": float(tape.spreads_bps[i]),
                "spread_bps_max": float(tape.spreads_bps[i] * 1.5),
                "ofi_sum": imb * 3.0,
                "update_count": 10,
                "microprice_last": float(mid * (1 + imb * tape.spreads_bps[i] / 2e4)),
            }
        )
        prev = mid
    return bars


def book_at(tape: SymbolTape, index: int, levels: int = 20) -> dict[str, Any]:
    """An orderbook.raw record around the tape's mid at second `index`; sizes lean with imbalance."""
    mid = float(tape.mids[index])
    imb = float(tape.imbalances[index])
    half = mid * float(tape.spreads_bps[index]) / 2e4
    tick = mid * 0.00005
    steps = np.arange(levels) * tick
    # Cheap deterministic noise per (second, level): no RNG construction per book.
    noise = 0.5 + 2.5 * ((np.arange(levels) * 7919 + index * 104729) % 1000) / 1000.0
    bid_sizes = (noise * (1 + imb)).clip(0.01)
    ask_sizes = (noise[::-1] * (1 - imb)).clip(0.01)
    if index % 7 == 0:
        bid_sizes[levels // 2] *= 8  # a wall, so the heatmap shows structure
    event_ms = tape.start_ms + index * 1000 + 100
    return {
        "schema_version": 1,
        "exchange": EXCHANGE,
        "market": MARKET,
        "symbol": tape.symbol,
        "event_time": event_ms,
        "receive_time_ns": event_ms * 1_000_000 + 5_000_000,
        "sequence_id": 1_000_000 + index,
        "prev_sequence_id": 999_999 + index,
        "bid_prices": np.round(mid - half - steps, 8).tolist(),
        "bid_sizes": bid_sizes.tolist(),
        "ask_prices": np.round(mid + half + steps, 8).tolist(),
        "ask_sizes": ask_sizes.tolist(),
        "resynced": False,
        "crossed": False,
    }


def processed_of(book: dict[str, Any]) -> dict[str, Any]:
    """An orderbook.processed record computed from a raw book (the subset the dashboard shows)."""
    bp, bs, ap, as_ = book["bid_prices"], book["bid_sizes"], book["ask_prices"], book["ask_sizes"]
    mid = (bp[0] + ap[0]) / 2
    spread = ap[0] - bp[0]

    def imbalance(n: int) -> float:
        b, a = sum(bs[:n]), sum(as_[:n])
        return (b - a) / (b + a)

    micro = (bp[0] * as_[0] + ap[0] * bs[0]) / (bs[0] + as_[0])
    return {
        "schema_version": 1,
        "exchange": book["exchange"],
        "market": book["market"],
        "symbol": book["symbol"],
        "event_time": book["event_time"],
        "receive_time_ns": book["receive_time_ns"],
        "sequence_id": book["sequence_id"],
        "best_bid": bp[0],
        "best_ask": ap[0],
        "best_bid_size": bs[0],
        "best_ask_size": as_[0],
        "mid": mid,
        "spread": spread,
        "spread_bps": spread / mid * 1e4,
        "imbalance_1": imbalance(1),
        "imbalance_5": imbalance(5),
        "imbalance_10": imbalance(10),
        "imbalance_20": imbalance(20),
        "microprice": micro,
        "microprice_lean_bps": (micro - mid) / mid * 1e4,
        "ofi_1": (bs[0] - as_[0]) * 0.5,
        "ofi_5": (sum(bs[:5]) - sum(as_[:5])) * 0.5,
    }


def alert(
    tape: SymbolTape,
    index: int,
    severity: str = "high",
    alert_type: str = "imbalance_extreme",
    threshold: float = 0.7,
) -> dict[str, Any]:
    event_ms = tape.start_ms + index * 1000 + 500
    value = float(tape.imbalances[index])
    return {
        "schema_version": 1,
        "alert_id": f"{alert_type}:{tape.key}:{event_ms}:{severity}",
        "alert_type": alert_type,
        "severity": severity,
        "exchange": EXCHANGE,
        "market": MARKET,
        "symbol": tape.symbol,
        "metric_value": value,
        "threshold": threshold,
        "window_start": event_ms - 1_200,
        "window_end": event_ms,
        "event_time": event_ms,
        "message": f"{tape.symbol} top-5 imbalance {value:+.2f} beyond {threshold:.2f} for 1.2 s",
    }


def write_bars(conn: psycopg.Connection[Any], bars: Iterable[dict[str, Any]]) -> int:
    n = 0
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY orderbook_bars ({', '.join(BAR_DB_COLUMNS)}) FROM STDIN") as copy,
    ):
        for bar in bars:
            copy.write_row(
                [_dt(bar["window_start"]), _dt(bar["window_end"])] + [bar.get(c) for c in BAR_DB_COLUMNS[2:]]
            )
            n += 1
    conn.commit()
    return n


def write_snapshots(conn: psycopg.Connection[Any], books: Iterable[dict[str, Any]]) -> int:
    n = 0
    cols = ", ".join(SNAPSHOT_DB_COLUMNS)
    with conn.cursor() as cur, cur.copy(f"COPY orderbook_snapshots ({cols}) FROM STDIN") as copy:
        for book in books:
            copy.write_row(
                [
                    _dt(book["event_time"] // 1000 * 1000),
                    book["exchange"],
                    book["symbol"],
                    book["sequence_id"],
                    book["bid_prices"],
                    book["bid_sizes"],
                    book["ask_prices"],
                    book["ask_sizes"],
                ]
            )
            n += 1
    conn.commit()
    return n


def write_alerts(conn: psycopg.Connection[Any], alerts: Sequence[dict[str, Any]]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO orderbook_alerts ({', '.join(ALERT_DB_COLUMNS)}) VALUES "
            f"({', '.join(['%s'] * len(ALERT_DB_COLUMNS))}) ON CONFLICT DO NOTHING",
            [
                [_dt(a["event_time"])]
                + [a[c] for c in ALERT_DB_COLUMNS[1:9]]
                + [_dt(a["window_start"]), _dt(a["window_end"]), _dt(a["event_time"]), a["message"]]
                for a in alerts
            ],
        )
    conn.commit()


def write_metrics(conn: psycopg.Connection[Any], records: Sequence[dict[str, Any]]) -> None:
    cols = [c for c in records[0] if c != "schema_version"]
    with conn.cursor() as cur:
        cur.executemany(
            f"INSERT INTO orderbook_metrics (ts, {', '.join(cols)}) VALUES (%s, {', '.join(['%s'] * len(cols))}) "
            "ON CONFLICT DO NOTHING",
            [[_dt(r["event_time"])] + [r.get(c) for c in cols] for r in records],
        )
    conn.commit()


def write_redis(
    client: redis.Redis,
    keys: RedisKeys,
    *,
    latest: Sequence[dict[str, Any]] = (),
    books: Sequence[dict[str, Any]] = (),
    bars: Sequence[dict[str, Any]] = (),
    alerts: Sequence[dict[str, Any]] = (),
    ttl_s: int = 120,
    heartbeat_ms: int | None = None,
) -> None:
    """Writes as the Redis sink does (layout in the storage contract)."""
    pipe = client.pipeline(transaction=False)
    for rec in latest:
        key = f"{rec['exchange']}:{rec['symbol']}"
        pipe.sadd(keys.symbols(), key)
        pipe.set(keys.latest(key), orjson.dumps(rec), ex=ttl_s)
    for book in books:
        pipe.set(keys.book(f"{book['exchange']}:{book['symbol']}"), orjson.dumps(book), ex=ttl_s)
    for bar in bars:
        zkey = keys.bars(bar["interval"], f"{bar['exchange']}:{bar['symbol']}")
        pipe.zadd(zkey, {orjson.dumps(bar): bar["window_start"]})
    for a in alerts:
        key = f"{a['exchange']}:{a['symbol']}"
        pipe.xadd(keys.alerts_stream(), {"json": orjson.dumps(a)}, maxlen=10_000, approximate=True)
        pipe.set(keys.last_alert(key), orjson.dumps(a))
    if heartbeat_ms is not None:
        pipe.set(keys.heartbeat(), heartbeat_ms)
    pipe.execute()
