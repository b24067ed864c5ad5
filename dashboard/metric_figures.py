"""Plotly figures of the book-shape metrics over time (weighted imbalance and VTOB ratio, depth
bands, imbalance velocity), from the bucketed frame of `HistoryStore.metric_series`.

Pure functions like `figures`: one constructor call per figure, `uirevision` so a zoom survives the
refresh. Titles and axis labels come from `metric_help`, so the chart says what it draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from config import MetricsJobSettings
from dashboard.formatting import ASK_COLOUR, BID_COLOUR, MID_COLOUR, SEVERITY_COLOURS
from dashboard.metric_columns import IMBALANCE_VELOCITY, VTOB_RATIO, WEIGHTED_IMBALANCE, DepthBand
from dashboard.metric_help import metric_help

_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
_DASHES = ("solid", "dash", "dot", "dashdot", "longdash")
LOWER_BOUND_NAME = "lower bound (levels end inside the band)"


def _layout(title: str, revision: str, **extra: Any) -> go.Layout:
    return go.Layout(
        height=320,
        margin={**_MARGIN, "t": 55},
        title={"text": title, "x": 0.01},
        legend={"orientation": "h", "y": -0.15},
        hovermode="x unified",
        uirevision=revision,
        xaxis={"type": "date"},
        **extra,
    )


def weighted_vtob_series(frame: pd.DataFrame, metrics: MetricsJobSettings, revision: str = "") -> go.Figure:
    """Weighted imbalance (left axis, -1..1) and VTOB ratio (right axis, 0..1), mean per bucket."""
    weighted = metric_help("weighted_imbalance", metrics)
    vtob = metric_help("vtob_ratio", metrics)
    traces: list[Any] = []
    if not frame.empty:
        traces.append(
            go.Scatter(
                x=frame.index,
                y=frame.get(WEIGHTED_IMBALANCE),
                mode="lines",
                name=weighted.label.lower(),
                line={"color": BID_COLOUR, "width": 1.5},
            )
        )
        traces.append(
            go.Scatter(
                x=frame.index,
                y=frame.get(VTOB_RATIO),
                mode="lines",
                name=vtob.label,
                yaxis="y2",
                line={"color": MID_COLOUR, "width": 1.3},
            )
        )
    layout = _layout(
        f"{weighted.label} and {vtob.label}",
        revision,
        yaxis={"title": weighted.label.lower(), "range": [-1.05, 1.05], "zeroline": True},
        yaxis2={
            "title": vtob.label,
            "overlaying": "y",
            "side": "right",
            "range": [0, 1.02],
            "showgrid": False,
        },
    )
    return go.Figure(data=traces, layout=layout)


def depth_series(
    frame: pd.DataFrame, bands: list[DepthBand], metrics: MetricsJobSettings, revision: str = ""
) -> go.Figure:
    """Mean size within each band per side (bids green, asks red; one dash per band). A bucket in
    which the band was not complete in every update gets an open marker on both sides: there the
    line is a lower bound."""
    traces: list[Any] = []
    bound_x: list[np.ndarray] = []
    bound_y: list[np.ndarray] = []
    if not frame.empty:
        for band, dash in zip(bands, _DASHES, strict=False):
            label = metric_help("depth", metrics, bps=band.bps).label
            for side, column, colour in (("bid", band.bid, BID_COLOUR), ("ask", band.ask, ASK_COLOUR)):
                if column not in frame:
                    continue
                traces.append(
                    go.Scatter(
                        x=frame.index,
                        y=frame[column],
                        mode="lines",
                        name=f"{side} {label.removeprefix('Depth ')}",
                        line={"color": colour, "dash": dash, "width": 1.4},
                    )
                )
                if band.complete in frame:
                    incomplete = frame[band.complete].eq(False).to_numpy()
                    bound_x.append(frame.index.to_numpy()[incomplete])
                    bound_y.append(frame[column].to_numpy(dtype="float64")[incomplete])
    if bound_x and sum(len(x) for x in bound_x):
        traces.append(
            go.Scatter(
                x=np.concatenate(bound_x),
                y=np.concatenate(bound_y),
                mode="markers",
                name=LOWER_BOUND_NAME,
                marker={
                    "symbol": "circle-open",
                    "size": 4,
                    "color": SEVERITY_COLOURS["medium"],
                    "opacity": 0.6,
                },
                hovertemplate="≥ %{y:.4g}<extra>lower bound</extra>",
            )
        )
    title = (
        "Depth within " + "/".join(str(b.bps) for b in bands) + " bps of mid"
        "<br><sub>size per side; ○ = lower bound</sub>"
    )
    return go.Figure(
        data=traces, layout=_layout(title, revision, yaxis={"title": "size", "rangemode": "tozero"})
    )


def velocity_series(
    frame: pd.DataFrame, threshold: float, metrics: MetricsJobSettings, revision: str = ""
) -> go.Figure:
    """Imbalance velocity (mean per bucket, with its min-max range) and the velocity_spike
    threshold in force as lines at ±threshold."""
    velocity = metric_help("imbalance_velocity", metrics)
    traces: list[Any] = []
    mean, low, high = (f"{IMBALANCE_VELOCITY}_{s}" for s in ("mean", "min", "max"))
    if not frame.empty and mean in frame:
        traces.append(go.Scatter(x=frame.index, y=frame[high], mode="lines", line={"width": 0},
                                 hoverinfo="skip", showlegend=False))  # fmt: skip
        traces.append(
            go.Scatter(
                x=frame.index,
                y=frame[low],
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor="rgba(141,153,174,0.25)",
                name="min-max",
                hoverinfo="skip",
            )
        )
        traces.append(
            go.Scatter(
                x=frame.index,
                y=frame[mean],
                mode="lines",
                name="velocity",
                line={"color": MID_COLOUR, "width": 1.5},
            )  # fmt: skip
        )
    shapes = [
        {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": y, "y1": y,
         "line": {"color": SEVERITY_COLOURS["low"], "dash": "dash", "width": 1.5}}
        for y in (threshold, -threshold)
    ]  # fmt: skip
    title = (
        f"Imbalance velocity (top-{metrics.baseline_imbalance_level}, per s)"
        f"<br><sub>velocity_spike alert at |v| ≥ {threshold:g} (dashed)</sub>"
    )
    layout = _layout(title, revision, shapes=shapes, yaxis={"title": velocity.label, "zeroline": True})
    return go.Figure(data=traces, layout=layout)
