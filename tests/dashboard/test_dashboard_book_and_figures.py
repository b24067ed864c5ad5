"""Depth curves, the liquidity grid and the Plotly figures built from them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard import figures
from dashboard.book_depth import depth_curves, liquidity_grid, microprice, snapshots_frame
from dashboard.formatting import SEVERITY_COLOURS
from dashboard.tables import alerts_frame, bars_frame

pytestmark = pytest.mark.unit

BOOK = {
    "bid_prices": [99.0, 100.0, 98.0],  # deliberately unsorted
    "bid_sizes": [2.0, 1.0, 3.0],
    "ask_prices": [101.0, 102.0, 103.0],
    "ask_sizes": [4.0, 0.0, 1.0],  # a zero size is not a level
}


def test_depth_curves_are_cumulative_from_the_best_price_outwards():
    curves = depth_curves(BOOK)
    assert list(curves.bid_prices) == [100.0, 99.0, 98.0]
    assert list(curves.bid_cum) == [1.0, 3.0, 6.0]
    assert list(curves.ask_prices) == [101.0, 103.0]
    assert list(curves.ask_cum) == [4.0, 5.0]
    assert depth_curves(None).empty


def test_microprice_leans_towards_the_thinner_side():
    book = {"bid_prices": [100.0], "bid_sizes": [3.0], "ask_prices": [101.0], "ask_sizes": [1.0]}
    assert microprice(book) == pytest.approx(100.75)  # more bid size -> price leans to the ask
    assert microprice({"bid_prices": []}) is None


def _snapshots():
    ts = pd.date_range("2024-08-09 00:00:00", periods=3, freq="10s", tz="UTC")
    return snapshots_frame(
        [
            {
                "ts": t,
                "bid_prices": [100.0 - i, 99.0 - i],
                "bid_sizes": [1.0, 2.0],
                "ask_prices": [101.0 - i, 102.0 - i],
                "ask_sizes": [3.0, 4.0],
            }
            for i, t in enumerate(ts)
        ]
    )


def test_liquidity_grid_keeps_the_size_inside_the_price_range():
    grid = liquidity_grid(_snapshots(), price_bins=20)
    assert grid.z.shape == (20, 3)
    assert list(grid.mids) == [100.5, 99.5, 98.5]
    assert np.all(np.diff(grid.prices) > 0)
    # Percentile clipping may drop only the extreme levels; what stays is never more than the book.
    assert np.all(grid.z.sum(axis=0) <= 10.0) and grid.z.sum() >= 3 * 3.0
    # The best bid of the first snapshot (100, size 1) lands in the row whose bin holds 100.
    row = int(np.argmin(np.abs(grid.prices - 100.0)))
    assert grid.z[row - 1 : row + 2, 0].sum() >= 1.0


def test_liquidity_grid_of_nothing_is_empty():
    assert liquidity_grid(snapshots_frame([])).empty


def test_gauge_has_both_threshold_bands():
    fig = figures.imbalance_gauge(0.75, 0.5, 0.7, 5)
    gauge = fig.data[0].gauge
    ranges = [tuple(step.range) for step in gauge.steps]
    assert (-1, -0.7) in ranges and (0.7, 1) in ranges and (0.5, 0.7) in ranges
    assert fig.data[0].value == 0.75
    assert figures.imbalance_gauge(None, 0.5, 0.7, 5).data[0].value == 0.0


def _series():
    start = 1_723_161_240_000
    return bars_frame(
        [
            {
                "window_start": start + i * 1000,
                "mid_close": 100 + i,
                "imbalance_mean": 0.1 * (i % 10),
                "imbalance_min": -0.2,
                "imbalance_max": 0.9,
            }
            for i in range(30)
        ]
    ), start


def test_series_puts_mid_on_the_second_axis_and_alerts_on_the_imbalance_line():
    bars, start = _series()
    alerts = alerts_frame(
        [
            {
                "alert_id": "a1",
                "alert_type": "imbalance_extreme",
                "severity": "high",
                "exchange": "b",
                "symbol": "X1",
                "metric_value": 0.9,
                "threshold": 0.7,
                "event_time": start + 9_000,
                "message": "m1",
            },
            {
                "alert_id": "a2",
                "alert_type": "imbalance_extreme",
                "severity": "low",
                "exchange": "b",
                "symbol": "X1",
                "metric_value": 0.3,
                "threshold": 0.2,
                "event_time": start + 3_000,
                "message": "m2",
            },
        ]
    )
    fig = figures.imbalance_mid_series(bars, alerts, revision="b:X1")
    by_name = {trace.name: trace for trace in fig.data}
    assert by_name["mid"].yaxis == "y2"
    assert by_name["imbalance"].yaxis in (None, "y")
    high = by_name["alert high"]
    assert list(high.text) == ["m1"]
    assert high.marker.color == SEVERITY_COLOURS["high"]
    assert list(high.y) == pytest.approx([0.9])  # imbalance of the bar at +9 s
    assert fig.layout.xaxis.rangeselector.buttons  # range selector present
    assert fig.layout.uirevision == "b:X1"


def test_series_without_data_is_an_empty_figure_not_an_error():
    fig = figures.imbalance_mid_series(bars_frame([]), alerts_frame([]))
    assert isinstance(fig, go.Figure) and len(fig.data) == 0


def test_candles_and_depth_and_heatmap():
    bars, _ = _series()
    ohlc = bars.assign(
        mid_open=bars["mid_close"] - 1, mid_high=bars["mid_close"] + 1, mid_low=bars["mid_close"] - 2
    )
    fig = figures.candles(ohlc, 60)
    assert fig.data[0].type == "candlestick" and "1 min" in fig.layout.title.text
    depth = figures.depth_chart(depth_curves(BOOK), 100.5, 100.75)
    names = [t.name for t in depth.data]
    assert names == ["bids", "asks", "mid", "microprice"]
    heat = figures.liquidity_heatmap(liquidity_grid(_snapshots(), price_bins=10))
    z = np.asarray(heat.data[0].z, dtype=float)
    assert np.isnan(z).any()  # empty cells are transparent
    assert np.nanmax(z) == pytest.approx(np.sqrt(np.asarray(heat.data[0].customdata).max()))
