"""Bounded inputs for the rules job: processed records of three books whose spread, imbalance and
order flow wander across the thresholds of RULES, with missing values, and event times near now
(inside the contract's age bound)."""

from __future__ import annotations

import random
import time
from typing import Any

BOOKS = (("binance", "ETHUSDT"), ("binance", "BTCUSDT"), ("okx", "ETH-USDT"))


def rule(rule_id: int, metric: str, scope: str, condition: str, threshold: float, *, min_ms: int = 0,
         cooldown_ms: int = 0, severity: str = "medium", enabled: bool = True, version: int = 1,
         deleted: bool = False) -> dict[str, Any]:  # fmt: skip
    """A record of rules.changes."""
    return {
        "schema_version": 1, "rule_id": rule_id, "version": version, "name": f"rule {rule_id}",
        "metric": metric, "scope": scope, "condition": condition, "threshold": threshold,
        "min_duration_ms": min_ms, "cooldown_ms": cooldown_ms, "severity": severity, "enabled": enabled,
        "deleted": deleted, "changed_by": "tests", "changed_at": int(time.time() * 1000),
    }  # fmt: skip


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
