"""Bounded inputs for the rules jobs: processed records of three books whose spread, imbalance and
order flow wander across the thresholds of RULES, with missing values; trade bars and pair
analytics whose values wander across the thresholds of SOURCE_RULES; event times near now (inside
the contract's age bound)."""

from __future__ import annotations

import random
import time
from typing import Any

BOOKS = (("binance", "ETHUSDT"), ("binance", "BTCUSDT"), ("okx", "ETH-USDT"))


def rule(rule_id: int, metric: str, scope: str, condition: str, threshold: float, *, min_ms: int = 0,
         cooldown_ms: int = 0, severity: str = "medium", enabled: bool = True, version: int = 1,
         deleted: bool = False, source: str | None = None) -> dict[str, Any]:  # fmt: skip
    """A record of rules.changes (without a source: as written before sources existed, the books)."""
    record = {
        "schema_version": 1, "rule_id": rule_id, "version": version, "name": f"rule {rule_id}",
        "metric": metric, "scope": scope, "condition": condition, "threshold": threshold,
        "min_duration_ms": min_ms, "cooldown_ms": cooldown_ms, "severity": severity, "enabled": enabled,
        "deleted": deleted, "changed_by": "tests", "changed_at": int(time.time() * 1000),
    }  # fmt: skip
    return record if source is None else {**record, "source": source}


RULES = [
    rule(1, "spread_bps", "all", ">", 3.0, min_ms=300, cooldown_ms=1000, severity="high"),
    rule(2, "imbalance_5", "binance:*", "crosses above", 0.3),
    rule(3, "imbalance_5", "ETH*", "crosses below", -0.3, min_ms=200, cooldown_ms=500, severity="low"),
    rule(4, "ofi_1", "*:BTC?SDT", "abs >", 2.0, cooldown_ms=2000),
    rule(5, "imbalance_5", "okx:ETH-USDT", "<", -0.5, enabled=False),
    rule(6, "spread_bps", "all", ">", 0.0, deleted=True),
]


def processed(exchange: str, symbol: str, t: int, seq: int, **fields: Any) -> dict[str, Any]:
    rec = {
        "schema_version": 1, "exchange": exchange, "market": "spot", "symbol": symbol, "event_time": t,
        "receive_time_ns": t * 1_000_000, "sequence_id": seq, "mid": 100.0, "spread": None,
        "spread_bps": None, "imbalance_1": None, "imbalance_5": None, "imbalance_10": None, "imbalance_20": None,
    }  # fmt: skip
    rec.update(fields)
    return rec


def walk(n: int, *, seed: int, t0: int | None = None) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    t = t0 if t0 is not None else int(time.time() * 1000) - 600_000
    level = {b: {"spread": 2.0, "imb": 0.0} for b in BOOKS}
    out = []
    for k in range(n):
        book = rng.choice(BOOKS)
        st = level[book]
        t += rng.choice([0, 20, 50, 100, 150])
        st["spread"] = max(0.1, st["spread"] + rng.gauss(0, 0.4))
        st["imb"] = max(-1.0, min(1.0, 0.85 * st["imb"] + rng.gauss(0, 0.25)))
        imb = None if rng.random() < 0.03 else round(st["imb"], 3)
        ofi = None if rng.random() < 0.2 else round(rng.gauss(0, 1.2), 3)
        # now and then a record 5 s behind: late for the watermark, still evaluated in arrival order
        at = t - 5_000 if rng.random() < 0.01 else t
        out.append(processed(*book, at, k, spread_bps=round(st["spread"], 4), imbalance_5=imb, ofi_1=ofi))
    return out


def trade_bars_walk(n: int, *, seed: int, t0: int | None = None) -> list[dict[str, Any]]:
    """trades.bars records of two symbols, 1 s bars and a 1 m bar every 60 of them, whose close
    and volume delta wander across the thresholds of SOURCE_RULES (decimal texts, as the job
    writes them), with now and then a bar version again (a late trade updated it)."""
    rng = random.Random(seed)
    start = (t0 if t0 is not None else int(time.time() * 1000) - 600_000) // 1000 * 1000
    close = {s: 2500.0 for s in ("ETHUSDT", "BTCUSDT")}
    out: list[dict[str, Any]] = []
    for k in range(n):
        for symbol in close:
            close[symbol] += rng.gauss(0, 1.5)
            delta = round(rng.gauss(0, 2.0), 9)
            for interval, size in (("1s", 1000), ("1m", 60_000)):
                if interval == "1m" and k % 60:
                    continue
                at = start + k * 1000 // size * size
                bar = {
                    "schema_version": 1, "exchange": "binance", "market": "spot", "symbol": symbol,
                    "interval": interval, "window_start": at, "window_end": at + size,
                    "open": f"{close[symbol]:.10f}", "high": f"{close[symbol] + 0.5:.10f}",
                    "low": f"{close[symbol] - 0.5:.10f}", "close": f"{close[symbol]:.10f}",
                    "volume": f"{abs(delta) + 1:.9f}", "quote_volume": f"{(abs(delta) + 1) * close[symbol]:.10f}",
                    "vwap": round(close[symbol], 6), "trade_count": rng.randint(1, 9),
                    "buy_volume": f"{max(delta, 0) + 0.5:.9f}", "sell_volume": f"{max(-delta, 0) + 0.5:.9f}",
                    "volume_delta": f"{delta:.9f}",
                }  # fmt: skip
                out.append(bar)
                if rng.random() < 0.02:
                    out.append({**bar, "trade_count": bar["trade_count"] + 1})
    return out


def pairs_walk(n: int, *, seed: int, t0: int | None = None) -> list[dict[str, Any]]:
    """pairs.analytics records of two pairs, one a second, whose z-score and ADF p-value wander
    across the thresholds of SOURCE_RULES, with undefined statistics (null) now and then."""
    rng = random.Random(seed)
    start = (t0 if t0 is not None else int(time.time() * 1000) - 600_000) // 1000 * 1000
    pairs = ("binance:ETHUSDT/binance:BTCUSDT", "okx:ETH-USDT/binance:ETHUSDT")
    z = dict.fromkeys(pairs, 0.0)
    out: list[dict[str, Any]] = []
    for k in range(n):
        for pair in pairs:
            y, x = pair.split("/")
            z[pair] = 0.9 * z[pair] + rng.gauss(0, 0.8)
            missing = rng.random() < 0.03
            out.append({
                "schema_version": 1, "pair": pair, "y": y, "x": x, "event_time": start + k * 1000,
                "y_close": "2511.6000000000", "x_close": "61200.1000000000", "y_fill_age_ms": 0,
                "x_fill_age_ms": 1000, "points": 300, "beta": 1.1, "alpha": -4.5, "r_squared": 0.8,
                "spread": 0.0003, "spread_mean": 0.0, "spread_std": 0.0002,
                "zscore": None if missing else round(z[pair], 4), "return_corr": 0.7, "half_life_s": 40.0,
                "adf_stat": -3.0, "adf_pvalue": round(rng.random() * 0.2, 4), "adf_lags": 2, "adf_time": start,
            })  # fmt: skip
    return out


def book_bars_walk(n: int, *, seed: int, t0: int | None = None) -> list[dict[str, Any]]:
    """orderbook.bars records of two symbols, 1 s bars and a 1 m bar every 60, whose widest spread
    and order flow wander across the thresholds of SOURCE_RULES, the spread null now and then."""
    rng = random.Random(seed)
    start = (t0 if t0 is not None else int(time.time() * 1000) - 600_000) // 1000 * 1000
    spread = {s: 2.0 for s in ("ETHUSDT", "SOLUSDT")}
    out: list[dict[str, Any]] = []
    for k in range(n):
        for symbol in spread:
            spread[symbol] = max(0.1, spread[symbol] + rng.gauss(0, 0.5))
            for interval, size in (("1s", 1000), ("1m", 60_000)):
                if interval == "1m" and k % 60:
                    continue
                at = start + k * 1000 // size * size
                out.append({
                    "schema_version": 1, "exchange": "okx", "market": "spot", "symbol": symbol,
                    "interval": interval, "window_start": at, "window_end": at + size, "mid_open": 100.0,
                    "mid_high": 100.5, "mid_low": 99.5, "mid_close": 100.1, "imbalance_mean": 0.1,
                    "imbalance_min": -0.4, "imbalance_max": 0.6,
                    "spread_bps_mean": round(spread[symbol] / 2, 4),
                    "spread_bps_max": None if rng.random() < 0.03 else round(spread[symbol], 4),
                    "ofi_sum": round(rng.gauss(0, 3), 3), "update_count": rng.randint(1, 50),
                    "microprice_last": 100.05,
                })  # fmt: skip
    return out


SOURCE_RULES = [
    rule(11, "close", "binance:ETH*", "crosses above", 2503.0, source="trades.bars:1s"),
    rule(12, "volume_delta", "all", "abs >", 3.0, min_ms=2000, cooldown_ms=5000, source="trades.bars:1s"),
    rule(13, "close", "*", "<", 2500.0, severity="low", source="trades.bars:1m"),
    rule(14, "close", "all", ">", 0.0, source="trades.bars:5m"),  # no 5 m bars: never fires
    rule(
        15, "zscore", "binance:ETH*/*", "abs >", 1.5, min_ms=2000, cooldown_ms=3000, source="pairs.analytics"
    ),
    rule(16, "adf_pvalue", "all", "<", 0.01, severity="high", source="pairs.analytics"),
    rule(17, "spread_bps", "all", ">", 0.0),  # a books rule: never on bars or pairs
    rule(18, "spread_bps_max", "okx:*", ">", 3.0, min_ms=2000, cooldown_ms=4000, source="orderbook.bars:1s"),
    rule(19, "ofi_sum", "SOLUSDT", "crosses below", -3.0, source="orderbook.bars:1m"),
]
