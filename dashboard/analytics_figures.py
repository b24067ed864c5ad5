"""Plotly figures of the Analytics page: trade candles with volume, and a pair's prices, hedge
ratio, spread and z-score with bands, and return correlation. Pure functions (frames in, figure
out) over the frames of `AnalyticsStore` or of an uploaded tick file (`tick_upload`), which have the
same columns; `uirevision` so a zoom survives the refresh."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.formatting import ASK_COLOUR, BID_COLOUR, MID_COLOUR

_MARGIN = {"l": 10, "r": 10, "t": 50, "b": 10}
Y_COLOUR = "#636efa"
X_COLOUR = "#ef553b"
BAND_COLOUR = "#888888"


def _layout(fig: go.Figure, title: str, revision: str, height: int) -> go.Figure:
    fig.update_layout(
        height=height,
        margin=_MARGIN,
        title={"text": title, "x": 0.01},
        legend={"orientation": "h", "y": -0.12},
        hovermode="x unified",
        uirevision=revision,
    )
    return fig


def trade_candles(bars: pd.DataFrame, label: str, revision: str = "") -> go.Figure:
    """Candles of trade prices over volume bars (buy volume up, sell volume stacked on it)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.72, 0.28], vertical_spacing=0.03)
    if not bars.empty:
        fig.add_trace(
            go.Candlestick(
                x=bars.index,
                open=bars["open"],
                high=bars["high"],
                low=bars["low"],
                close=bars["close"],
                name="price",
                increasing={"line": {"color": BID_COLOUR}},
                decreasing={"line": {"color": ASK_COLOUR}},
            ),
            row=1,
            col=1,
        )
        if bars["buy_volume"].notna().any():
            fig.add_trace(
                go.Bar(x=bars.index, y=bars["buy_volume"], name="buy volume", marker_color=BID_COLOUR),
                row=2,
                col=1,
            )
            fig.add_trace(
                go.Bar(x=bars.index, y=bars["sell_volume"], name="sell volume", marker_color=ASK_COLOUR),
                row=2,
                col=1,
            )
        else:  # uploaded ticks carry no aggressor side
            fig.add_trace(
                go.Bar(x=bars.index, y=bars["volume"], name="volume", marker_color=MID_COLOUR), row=2, col=1
            )
    fig.update_layout(barmode="stack", xaxis={"rangeslider": {"visible": False}})
    fig.update_yaxes(title_text="price", row=1, col=1)
    fig.update_yaxes(title_text="volume", row=2, col=1)
    return _layout(fig, f"Trade candles {label}", revision, height=460)


def _line(x: Any, y: Any, name: str, colour: str, **extra: Any) -> go.Scatter:
    return go.Scatter(
        x=x, y=y, name=name, mode="lines", line={"color": colour, **extra.pop("line", {})}, **extra
    )


def normalized_prices(frame: pd.DataFrame, y: str, x: str, revision: str = "") -> go.Figure:
    """Both closes divided by their first close of the window (1 = where the window starts)."""
    fig = go.Figure()
    if not frame.empty:
        fig.add_trace(_line(frame.index, frame["y_close"] / frame["y_close"].iloc[0], f"y {y}", Y_COLOUR))
        fig.add_trace(_line(frame.index, frame["x_close"] / frame["x_close"].iloc[0], f"x {x}", X_COLOUR))
    return _layout(fig, "Prices, normalized to the window's first close", revision, height=300)


def hedge_ratio(frame: pd.DataFrame, revision: str = "") -> go.Figure:
    """β (OLS of ln y on ln x over the rolling window) over time."""
    fig = go.Figure()
    if not frame.empty:
        fig.add_trace(_line(frame.index, frame["beta"], "β", MID_COLOUR))
    return _layout(fig, "Hedge ratio β", revision, height=260)


def spread_and_zscore(frame: pd.DataFrame, k: float, revision: str = "") -> go.Figure:
    """The spread with its rolling mean ± k standard deviations (top) and its z-score with ±k
    lines (bottom): the same bands seen in spread units and in standard deviations."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06)
    if not frame.empty:
        t = frame.index
        band = dict(line={"dash": "dot", "width": 1})
        fig.add_trace(_line(t, frame["spread"], "spread", MID_COLOUR), row=1, col=1)
        fig.add_trace(_line(t, frame["spread_mean"], "mean", BAND_COLOUR, line={"width": 1}), row=1, col=1)
        upper = frame["spread_mean"] + k * frame["spread_std"]
        lower = frame["spread_mean"] - k * frame["spread_std"]
        fig.add_trace(_line(t, upper, f"mean + {k:g}σ", BAND_COLOUR, **band), row=1, col=1)
        fig.add_trace(_line(t, lower, f"mean − {k:g}σ", BAND_COLOUR, **band), row=1, col=1)
        fig.add_trace(_line(t, frame["zscore"], "z-score", Y_COLOUR), row=2, col=1)
        for level in (k, -k):
            fig.add_hline(y=level, line={"color": ASK_COLOUR, "dash": "dash", "width": 1}, row=2, col=1)
    fig.update_yaxes(title_text="spread", row=1, col=1)
    fig.update_yaxes(title_text="z", row=2, col=1)
    return _layout(fig, f"Spread ln y − β ln x − α, z-score and ±{k:g}σ bands", revision, height=440)


def return_correlation(frame: pd.DataFrame, revision: str = "") -> go.Figure:
    """Correlation of the legs' log returns over the rolling window."""
    fig = go.Figure()
    if not frame.empty:
        fig.add_trace(_line(frame.index, frame["return_corr"], "correlation", MID_COLOUR))
    fig.update_yaxes(range=[-1.05, 1.05])
    return _layout(fig, "Rolling correlation of log returns", revision, height=260)
