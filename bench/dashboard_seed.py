"""Synthetic market data in the storage contract's shapes, for the dashboard's tests and bench.

Records are built exactly as the topics' schemas say (tests validate them with
`schemas.validator_for`) and written through the sinks themselves (sinks.postgres_sink,
sinks.redis_sink), so what the dashboard reads in tests is what production writes. Prices follow
a seeded random walk so a run is reproducible.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from config import PostgresSettings, RedisSettings
from schemas import Topic, record_key
from sinks.batching import SinkBatch, SinkRecord, WriteResult
from sinks.decoding.contract import SinkContract
from sinks.postgres_sink import PostgresSink
from sinks.redis_sink import RedisSink

EXCHANGE = "binance"
MARKET = "spot"

_OFFSETS = itertools.count()
# The sinks reject records older than their topic's retention; seeded history (dated 2024, or days
# back) is written as the live sinks stored it then: without the age bound, with the future bound.
_SEEDING = SinkContract(max_future_ms=SinkContract.from_settings().max_future_ms, max_age_ms={})


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
        return record_key(EXCHANGE, self.symbol)

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


def sink_records(topic: Topic, records: Iterable[dict[str, Any]]) -> list[SinkRecord]:
    """Records as the sinks receive them from Kafka: keyed `exchange:symbol`, JSON bytes."""
    return [
        SinkRecord(
            topic=topic,
            topic_name=topic.value,
            partition=0,
            offset=next(_OFFSETS),
            key=record_key(r["exchange"], r["symbol"]).encode(),
            value=orjson.dumps(r),
        )
        for r in records
    ]


def _chunks(records: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _check(result: WriteResult) -> int:
    if result.rejected:
        raise RuntimeError(f"the sink refused seeded records: {result.rejected} {result.dlq[:1]}")
    return sum(result.stored.values())


def store_postgres(
    settings: PostgresSettings,
    *,
    metrics: Iterable[dict[str, Any]] = (),
    bars: Iterable[dict[str, Any]] = (),
    alerts: Iterable[dict[str, Any]] = (),
    books: Iterable[dict[str, Any]] = (),
    chunk: int = 10_000,
) -> int:
    """Writes through the PostgreSQL sink (the production write path: COPY + ON CONFLICT; raw
    books become one snapshot per second). Returns the rows stored."""
    sink = PostgresSink(settings, contract=_SEEDING)
    sink.setup()
    stored = 0
    try:
        for topic, records in ((Topic.PROCESSED, metrics), (Topic.BARS, bars), (Topic.ALERTS, alerts),
                               (Topic.RAW, books)):  # fmt: skip
            for part in _chunks(records, chunk):
                stored += _check(sink.write(SinkBatch(sink_records(topic, part))))
    finally:
        sink.close()
    return stored


def store_redis(
    settings: RedisSettings,
    *,
    metrics: Iterable[dict[str, Any]] = (),
    books: Iterable[dict[str, Any]] = (),
    bars: Iterable[dict[str, Any]] = (),
    alerts: Iterable[dict[str, Any]] = (),
    chunk: int = 10_000,
) -> None:
    """Writes through the Redis sink (latest values with the TTL of `settings`, bars of the last
    hour, the alert stream, last alert per symbol, heartbeat)."""
    sink = RedisSink(settings, refill=None, contract=_SEEDING)
    try:
        for topic, records in ((Topic.PROCESSED, metrics), (Topic.RAW, books), (Topic.BARS, bars),
                               (Topic.ALERTS, alerts)):  # fmt: skip
            for part in _chunks(records, chunk):
                _check(sink.write_records(sink_records(topic, part)))
    finally:
        sink.close()
