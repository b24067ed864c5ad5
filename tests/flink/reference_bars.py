"""Independent reference of orderbook.bars (numpy), from processed records."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

SIZES_MS = {"1s": 1_000, "1m": 60_000}


def reference_bars(
    processed: list[dict[str, Any]], imbalance_field: str = "imbalance_5"
) -> dict[tuple, dict]:
    """Expected bars per (exchange, symbol, interval, window_start)."""
    groups: dict[tuple, list[tuple[int, dict]]] = defaultdict(list)
    for order, rec in enumerate(processed):
        for label, size in SIZES_MS.items():
            start = rec["event_time"] // size * size
            groups[(rec["exchange"], rec["symbol"], label, start)].append((order, rec))
    out = {}
    for (exchange, symbol, label, start), rows in groups.items():
        rows.sort(key=lambda r: (r[1]["event_time"], r[0]))
        recs = [r for _, r in rows]

        def values(field: str, recs: list[dict[str, Any]] = recs) -> np.ndarray:
            return np.array([r[field] for r in recs if r[field] is not None], dtype=float)

        mids, imb, spread, ofi, micro = (
            values(f) for f in ("mid", imbalance_field, "spread_bps", "ofi_1", "microprice")
        )
        out[(exchange, symbol, label, start)] = {
            "window_end": start + SIZES_MS[label],
            "mid_open": mids[0] if len(mids) else None,
            "mid_high": mids.max() if len(mids) else None,
            "mid_low": mids.min() if len(mids) else None,
            "mid_close": mids[-1] if len(mids) else None,
            "imbalance_mean": imb.mean() if len(imb) else None,
            "imbalance_min": imb.min() if len(imb) else None,
            "imbalance_max": imb.max() if len(imb) else None,
            "spread_bps_mean": spread.mean() if len(spread) else None,
            "spread_bps_max": spread.max() if len(spread) else None,
            "ofi_sum": ofi.sum() if len(ofi) else None,
            "update_count": len(recs),
            "microprice_last": micro[-1] if len(micro) else None,
        }
    return out
