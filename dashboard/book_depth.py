"""Pure shaping of order book levels: cumulative depth curves for the depth chart, and the
price-by-time liquidity grid for the heatmap.

The heatmap is built from real book snapshots (orderbook_snapshots, one per second per symbol),
binned onto a fixed price grid so levels of different snapshots line up in one row. The price
range is taken between the 1st and 99th percentile of the prices seen, so one far-away level does
not squash the interesting part of the book into a single row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class DepthCurves:
    """Cumulative size by price: bids from best downwards, asks from best upwards."""

    bid_prices: np.ndarray
    bid_cum: np.ndarray
    ask_prices: np.ndarray
    ask_cum: np.ndarray

    @property
    def empty(self) -> bool:
        return self.bid_prices.size == 0 and self.ask_prices.size == 0


def depth_curves(book: Mapping[str, Any] | None) -> DepthCurves:
    """From an orderbook.raw record. Levels are re-sorted defensively (bids descending, asks
    ascending) and non-positive sizes dropped, so a malformed record cannot draw a wrong curve."""
    book = book or {}

    def side(prices_key: str, sizes_key: str, descending: bool) -> tuple[np.ndarray, np.ndarray]:
        prices = np.asarray(book.get(prices_key) or [], dtype="float64")
        sizes = np.asarray(book.get(sizes_key) or [], dtype="float64")
        n = min(prices.size, sizes.size)
        prices, sizes = prices[:n], sizes[:n]
        keep = (sizes > 0) & np.isfinite(prices) & np.isfinite(sizes)
        prices, sizes = prices[keep], sizes[keep]
        order = np.argsort(-prices if descending else prices, kind="stable")
        return prices[order], np.cumsum(sizes[order])

    bid_p, bid_c = side("bid_prices", "bid_sizes", descending=True)
    ask_p, ask_c = side("ask_prices", "ask_sizes", descending=False)
    return DepthCurves(bid_p, bid_c, ask_p, ask_c)


def microprice(book: Mapping[str, Any] | None) -> float | None:
    """Size-weighted mid of the best levels: leans towards the side with less size."""
    book = book or {}
    try:
        bid, ask = float(book["bid_prices"][0]), float(book["ask_prices"][0])
        bid_size, ask_size = float(book["bid_sizes"][0]), float(book["ask_sizes"][0])
    except (KeyError, IndexError, TypeError):
        return None
    total = bid_size + ask_size
    return (bid * ask_size + ask * bid_size) / total if total > 0 else None


@dataclass(frozen=True)
class LiquidityGrid:
    """z[price_row, time_col] = resting size in that price bin at that snapshot."""

    times: pd.DatetimeIndex
    prices: np.ndarray  # bin centres, ascending
    z: np.ndarray
    mids: np.ndarray  # mid per snapshot, NaN when a side is empty

    @property
    def empty(self) -> bool:
        return self.z.size == 0


def _levels(values: Any) -> np.ndarray:
    return np.asarray(values if values is not None else [], dtype="float64")


def liquidity_grid(snapshots: pd.DataFrame, price_bins: int = 80) -> LiquidityGrid:
    """`snapshots` has columns ts, bid_prices, bid_sizes, ask_prices, ask_sizes (arrays), one row
    per snapshot in time order."""
    empty = LiquidityGrid(pd.DatetimeIndex([], tz="UTC"), np.empty(0), np.empty((0, 0)), np.empty(0))
    if snapshots.empty:
        return empty
    cols: list[tuple[np.ndarray, np.ndarray]] = []
    mids = np.full(len(snapshots), np.nan)
    for i, row in enumerate(snapshots.itertuples(index=False)):
        bp, bs = _levels(row.bid_prices), _levels(row.bid_sizes)
        ap, as_ = _levels(row.ask_prices), _levels(row.ask_sizes)
        nb, na = min(bp.size, bs.size), min(ap.size, as_.size)
        prices = np.concatenate([bp[:nb], ap[:na]])
        sizes = np.concatenate([bs[:nb], as_[:na]])
        cols.append((prices, sizes))
        if nb and na:
            mids[i] = (bp[0] + ap[0]) / 2.0
    all_prices = np.concatenate([p for p, _ in cols]) if cols else np.empty(0)
    all_prices = all_prices[np.isfinite(all_prices)]
    if all_prices.size == 0:
        return empty
    low, high = np.percentile(all_prices, [1.0, 99.0])
    if high <= low:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, price_bins + 1)
    z = np.zeros((price_bins, len(cols)))
    for col, (prices, sizes) in enumerate(cols):
        inside = (prices >= low) & (prices <= high)
        rows = np.clip(np.searchsorted(edges, prices[inside], side="right") - 1, 0, price_bins - 1)
        np.add.at(z[:, col], rows, sizes[inside])
    times = pd.DatetimeIndex(pd.to_datetime(snapshots["ts"], utc=True))
    return LiquidityGrid(times, (edges[:-1] + edges[1:]) / 2.0, z, mids)


def snapshots_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows from the snapshots query into the frame `liquidity_grid` expects."""
    columns = ["ts", "bid_prices", "bid_sizes", "ask_prices", "ask_sizes"]
    frame = pd.DataFrame(list(rows), columns=columns)
    return frame.sort_values("ts", ignore_index=True)
