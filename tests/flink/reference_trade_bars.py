"""Independent reference of the trade_bars job (plain Python, Decimal): which trades are refused
as too late, the final value of every bar, and how many times each bar is emitted again because
a late trade updated it. It replays the input in file order with the watermark a bounded source
emits after every record (the highest event time so far minus the out-of-orderness)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

INTERVALS_MS = {"1s": 1_000, "1m": 60_000, "5m": 300_000}


@dataclass
class ReferenceRun:
    bars: dict[tuple, dict[str, Any]]
    updates: dict[tuple, int]  # bar key -> times emitted again after its first emission
    refused: list[dict[str, Any]] = field(default_factory=list)


def _order_key(trade: dict[str, Any]) -> tuple[int, int, str]:
    tid = trade["trade_id"]
    return (trade["event_time"], int(tid) if tid.isdigit() else -1, tid)


def reference_trade_bars(
    trades: list[dict[str, Any]], *, out_of_orderness_ms: int, lateness_ms: int
) -> ReferenceRun:
    watermark: int | None = None
    accepted: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    emitted: set[tuple] = set()
    updates: dict[tuple, int] = defaultdict(int)
    refused = []

    def fire_up_to(wm: int) -> None:
        for key in accepted:
            if key not in emitted and key[4] - 1 <= wm:
                emitted.add(key)

    for trade in trades:
        t = trade["event_time"]
        start_1s = t - t % 1000
        if watermark is not None and watermark >= start_1s + 999 + lateness_ms:
            refused.append(trade)
        else:
            for label, size in INTERVALS_MS.items():
                start = t - t % size
                key = (trade["exchange"], trade["symbol"], label, start, start + size)
                if key in emitted:
                    updates[key] += 1
                elif watermark is not None and start + size - 1 <= watermark:
                    emitted.add(key)  # a late trade opening its bar: the bar's first emission
                accepted[key].append(trade)
        mark = t - out_of_orderness_ms
        if watermark is None or mark > watermark:
            watermark = mark
            fire_up_to(watermark)

    bars = {}
    for (exchange, symbol, label, start, end), rows in accepted.items():
        ordered = sorted(rows, key=_order_key)
        prices = [Decimal(r["price"]) for r in rows]
        sizes = [Decimal(r["size"]) for r in rows]
        volume = sum(sizes, Decimal(0))
        quote = sum((p * q for p, q in zip(prices, sizes, strict=True)), Decimal(0))
        buy = sum((Decimal(r["size"]) for r in rows if r["side"] == "buy"), Decimal(0))
        sell = sum((Decimal(r["size"]) for r in rows if r["side"] == "sell"), Decimal(0))
        bars[(exchange, symbol, label, start)] = {
            "market": rows[0]["market"],
            "window_end": end,
            "open": Decimal(ordered[0]["price"]),
            "high": max(prices),
            "low": min(prices),
            "close": Decimal(ordered[-1]["price"]),
            "volume": volume,
            "quote_volume": quote,
            "vwap": float(quote) / float(volume),
            "trade_count": len(rows),
            "buy_volume": buy,
            "sell_volume": sell,
            "volume_delta": buy - sell,
        }
    updates_by_bar = {(e, s, label, start): n for (e, s, label, start, _), n in updates.items()}
    return ReferenceRun(bars, updates_by_bar, refused)
