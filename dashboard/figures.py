"""Plotly figures of the symbol view, built from the frames in `frames`/`book_frames`.

Pure functions (data in, figure out) so they are unit-tested and benchmarked without a browser.
Every figure sets `uirevision`, so a zoom or a range chosen by the user survives the periodic
refresh instead of snapping back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.alert_context import hover_text
from dashboard.book_depth import DepthCurves, LiquidityGrid
from dashboard.formatting import (
    ASK_COLOUR,
    BID_COLOUR,
    MICROPRICE_COLOUR,
    MID_COLOUR,
    SEVERITY_COLOURS,
    is_missing,
)

_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}

RANGE_BUTTONS = [
    {"count": 1, "label": "1m", "step": "minute", "stepmode": "backward"},
    {"count": 5, "label": "5m", "step": "minute", "stepmode": "backward"},
    {"count": 15, "label": "15m", "step": "minute", "stepmode": "backward"},
    {"count": 1, "label": "1h", "step": "hour", "stepmode": "backward"},
    {"count": 6, "label": "6h", "step": "hour", "stepmode": "backward"},
    {"step": "all", "label": "all"},
]


def imbalance_gauge(
    value: float | None,
    medium: float,
    high: float,
    level: int,
    revision: str = "",
    alert_level: int | None = None,
) -> go.Figure:
    """A -1..+1 dial with the alert bands: medium (amber) and high (red) on both sides. When the
    dial shows another level than the alerts watch (`alert_level`), the title says so: the bands
    are the thresholds of that other level."""
    shown = 0.0 if is_missing(value) else float(value)  # type: ignore[arg-type]
    bands = [
        {"range": [-1, -high], "color": "rgba(229,56,59,0.45)"},
        {"range": [-high, -medium], "color": "rgba(240,162,2,0.35)"},
        {"range": [-medium, medium], "color": "rgba(141,153,174,0.12)"},
        {"range": [medium, high], "color": "rgba(240,162,2,0.35)"},
        {"range": [high, 1], "color": "rgba(229,56,59,0.45)"},
    ]
    fig = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=shown,
            number={"valueformat": "+.3f", "suffix": "" if not is_missing(value) else " (no data)"},
            title={
                "text": f"Imbalance top-{level}"
                + (
                    f"<br><sub>alert bands apply to top-{alert_level}</sub>"
                    if alert_level not in (None, level)
                    else ""
                )
            },
            gauge={
                "axis": {"range": [-1, 1], "tickvals": [-1, -high, -medium, 0, medium, high, 1]},
                "bar": {"color": BID_COLOUR if shown >= 0 else ASK_COLOUR, "thickness": 0.3},
                "steps": bands,
                "threshold": {"line": {"color": "#222", "width": 3}, "thickness": 0.9, "value": shown},
            },
        )
    )
    fig.update_layout(height=260, margin={"l": 30, "r": 30, "t": 50, "b": 10}, uirevision=revision)
    return fig


def imbalance_mid_series(
    bars: pd.DataFrame, alerts: pd.DataFrame, revision: str = "", level: int | None = None
) -> go.Figure:
    """Imbalance (left axis, with its min-max band) and mid (right axis) over time; alerts as
    markers on the imbalance line, coloured by severity, with the message on hover. `level` is the
    top-N the bars' imbalance summarises, named on the axis."""
    traces: list[Any] = []
    if not bars.empty:
        x = bars.index
        if {"imbalance_min", "imbalance_max"} <= set(bars.columns):
            traces.append(
                go.Scatter(
                    x=x,
                    y=bars["imbalance_max"],
                    mode="lines",
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                )
            )
            traces.append(
                go.Scatter(
                    x=x,
                    y=bars["imbalance_min"],
                    mode="lines",
                    line={"width": 0},
                    fill="tonexty",
                    fillcolor="rgba(42,157,143,0.15)",
                    name="imbalance range",
                    hoverinfo="skip",
                )
            )
        traces.append(
            go.Scatter(
                x=x,
                y=bars.get("imbalance_mean"),
                mode="lines",
                name="imbalance",
                line={"color": BID_COLOUR, "width": 1.6},
            )
        )
        traces.append(
            go.Scatter(
                x=x,
                y=bars.get("mid_close"),
                mode="lines",
                name="mid",
                yaxis="y2",
                line={"color": MID_COLOUR, "width": 1.4},
            )
        )
    if not alerts.empty:
        for severity, group in alerts.groupby("severity", sort=False):
            traces.append(
                go.Scatter(
                    x=group["time"],
                    y=_imbalance_at(bars, group["time"]),
                    mode="markers",
                    name=f"alert {severity}",
                    marker={
                        "color": SEVERITY_COLOURS.get(str(severity), "#444"),
                        "size": 11,
                        "symbol": "triangle-down",
                        "line": {"width": 1, "color": "white"},
                    },
                    text=[  # the message, then why and the book when the alert has a context
                        hover_text(m, t, c)
                        for m, t, c in zip(
                            group["message"], group["alert_type"], _contexts(group), strict=True
                        )
                    ],
                    hovertemplate="%{text}<extra>%{x|%H:%M:%S}</extra>",
                )
            )
    # One constructor call: add_trace/update_layout deep-copy the figure each time (~3x slower).
    fig = go.Figure(
        data=traces,
        layout=go.Layout(
            height=380,
            margin=_MARGIN,
            title={"text": "Imbalance and mid", "x": 0.01},
            legend={"orientation": "h", "y": 1.12, "x": 0.35},
            hovermode="x unified",
            uirevision=revision,
            xaxis={
                "rangeselector": {"buttons": RANGE_BUTTONS},
                "rangeslider": {"visible": True, "thickness": 0.08},
                "type": "date",
            },
            yaxis={
                "title": f"imbalance top-{level}" if level else "imbalance",
                "range": [-1.05, 1.05],
                "zeroline": True,
            },
            yaxis2={"title": "mid", "overlaying": "y", "side": "right", "showgrid": False},
        ),
    )
    return fig


def _contexts(alerts: pd.DataFrame) -> list[Any]:
    """The alerts' contexts (None for each when the frame has no context column)."""
    return list(alerts["context"]) if "context" in alerts else [None] * len(alerts)


def _imbalance_at(bars: pd.DataFrame, times: pd.Series) -> np.ndarray:
    """The imbalance line's value at each alert time, so the marker sits on the line."""
    if bars.empty or "imbalance_mean" not in bars:
        return np.zeros(len(times))
    series = bars["imbalance_mean"].dropna()
    if series.empty:
        return np.zeros(len(times))
    idx = series.index.get_indexer(pd.DatetimeIndex(times), method="nearest")
    return series.to_numpy()[idx]


def candles(ohlc: pd.DataFrame, bucket_s: int, revision: str = "") -> go.Figure:
    """Candlesticks of mid from the bars, one candle per `bucket_s`."""
    traces: list[Any] = []
    if not ohlc.empty:
        traces.append(
            go.Candlestick(
                x=ohlc.index,
                open=ohlc["mid_open"],
                high=ohlc["mid_high"],
                low=ohlc["mid_low"],
                close=ohlc["mid_close"],
                name="mid",
                increasing={"line": {"color": BID_COLOUR}},
                decreasing={"line": {"color": ASK_COLOUR}},
            )
        )
    # One constructor call: add_trace/update_layout deep-copy the figure each time (~3x slower).
    fig = go.Figure(
        data=traces,
        layout=go.Layout(
            height=320,
            margin=_MARGIN,
            title={"text": f"Mid candles ({_bucket_label(bucket_s)})", "x": 0.01},
            xaxis={"rangeslider": {"visible": False}, "type": "date"},
            uirevision=revision,
            showlegend=False,
        ),
    )
    return fig


def _bucket_label(bucket_s: int) -> str:
    if bucket_s % 3_600 == 0:
        return f"{bucket_s // 3_600} h"
    if bucket_s % 60 == 0:
        return f"{bucket_s // 60} min"
    return f"{bucket_s} s"


def depth_chart(curves: DepthCurves, mid: float | None, micro: float | None, revision: str = "") -> go.Figure:
    """Cumulative size by price, bids left (green) and asks right (red), with mid and microprice."""
    traces: list[Any] = []
    shapes: list[dict[str, Any]] = []
    traces.append(
        go.Scatter(
            x=curves.bid_prices,
            y=curves.bid_cum,
            mode="lines",
            name="bids",
            line_shape="hv",
            fill="tozeroy",
            line={"color": BID_COLOUR},
            fillcolor="rgba(42,157,143,0.3)",
        )
    )
    traces.append(
        go.Scatter(
            x=curves.ask_prices,
            y=curves.ask_cum,
            mode="lines",
            name="asks",
            line_shape="hv",
            fill="tozeroy",
            line={"color": ASK_COLOUR},
            fillcolor="rgba(231,111,81,0.3)",
        )
    )
    for price, name, colour, dash in (
        (mid, "mid", MID_COLOUR, "dash"),
        (micro, "microprice", MICROPRICE_COLOUR, "dot"),
    ):
        if not is_missing(price):
            shapes.append(
                {"type": "line", "x0": price, "x1": price, "yref": "paper", "y0": 0, "y1": 1,
                 "line": {"color": colour, "dash": dash, "width": 2}}
            )  # fmt: skip
            traces.append(
                go.Scatter(x=[price], y=[0], mode="markers", name=name, marker={"color": colour, "size": 8})
            )
    # One constructor call: add_trace/update_layout deep-copy the figure each time (~3x slower).
    fig = go.Figure(
        data=traces,
        layout=go.Layout(
            shapes=shapes,
            height=320,
            margin=_MARGIN,
            title={"text": "Cumulative depth", "x": 0.01},
            xaxis={"title": "price"},
            yaxis={"title": "cumulative size"},
            uirevision=revision,
            legend={"orientation": "h", "y": 1.12, "x": 0.4},
        ),
    )
    return fig


def liquidity_heatmap(grid: LiquidityGrid, revision: str = "") -> go.Figure:
    """Resting size by price and time (Bookmap-like), mid drawn over it. Colour is on a
    square-root scale so thin levels stay visible next to a few large walls; empty cells are
    transparent over a dark background. Draw with `theme=None`: Streamlit's theme would replace
    the colour scale."""
    traces: list[Any] = []
    if not grid.empty:
        shown = np.sqrt(grid.z)
        shown[grid.z <= 0] = np.nan
        traces.append(
            go.Heatmap(
                x=grid.times,
                y=grid.prices,
                z=shown,
                colorscale="Inferno",
                zmin=0,
                showscale=True,
                colorbar={"title": {"text": "√size"}, "thickness": 10},
                customdata=grid.z,
                hoverongaps=False,
                hovertemplate="%{x|%H:%M:%S}<br>price %{y:.6g}<br>size %{customdata:.4g}<extra></extra>",
            )
        )
        traces.append(
            go.Scatter(
                x=grid.times, y=grid.mids, mode="lines", name="mid", line={"color": "#00e5ff", "width": 1.2}
            )
        )
    # One constructor call: add_trace/update_layout deep-copy the figure each time (~3x slower).
    fig = go.Figure(
        data=traces,
        layout=go.Layout(
            height=400,
            margin={"l": 70, "r": 10, "t": 40, "b": 40},
            font={"color": "#c8c8c8"},
            title={
                "text": "Liquidity heatmap (book depth over time)",
                "x": 0.01,
                "font": {"color": "#e6e6e6"},
            },
            xaxis={"type": "date", "gridcolor": "#2a2f3a", "automargin": True},
            yaxis={
                "title": {"text": "price"},
                "gridcolor": "#2a2f3a",
                "automargin": True,
                "tickformat": ".6~g",
            },
            plot_bgcolor="#0b0e14",
            paper_bgcolor="#0b0e14",
            uirevision=revision,
            showlegend=False,
        ),
    )
    return fig
