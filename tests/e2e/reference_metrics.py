"""An independent reference for the skeleton's metrics, written from the definitions in
docs/metrics.md with numpy, to check what the Flink job stored."""

from __future__ import annotations

from typing import Any

import numpy as np


def reference_metrics(
    raw: dict[str, Any], levels: tuple[int, ...] = (1, 5, 10, 20)
) -> dict[str, float | None]:
    bids_p, bids_q = np.asarray(raw["bid_prices"], float), np.asarray(raw["bid_sizes"], float)
    asks_p, asks_q = np.asarray(raw["ask_prices"], float), np.asarray(raw["ask_sizes"], float)
    out: dict[str, float | None] = {}
    if len(bids_p) and len(asks_p):
        bb, ba = bids_p[0], asks_p[0]
        mid = (bb + ba) / 2
        out.update(best_bid=bb, best_ask=ba, best_bid_size=bids_q[0], best_ask_size=asks_q[0])
        out.update(mid=mid, spread=ba - bb, spread_bps=(ba - bb) / mid * 1e4)
    for n in levels:
        b, a = bids_q[:n].sum(), asks_q[:n].sum()
        out[f"imbalance_{n}"] = (b - a) / (b + a) if b + a > 0 else None
    return out
