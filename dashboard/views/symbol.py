"""Symbol view: gauge and metric cards (live, Redis), imbalance/mid history with alert markers,
the book-shape metrics over time (weighted imbalance and VTOB ratio, depth within each band,
imbalance velocity with its alert threshold), cumulative depth (live book), candles and the
liquidity heatmap (history, PostgreSQL). The user picks the imbalance level (one of those the
metrics job publishes) of the gauge, the card and the series; it starts at the level the symbol's
alerts watch.

Each part degrades on its own: with Redis down the history still draws; with PostgreSQL down the
series and candles come from the last hour of bars kept in Redis (which summarise one imbalance
level only), and the metric history and the heatmap say they need the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from config import AlertSettings, MetricsJobSettings
from dashboard import cached_queries, figures, metric_figures
from dashboard.book_depth import depth_curves, liquidity_grid, microprice
from dashboard.formatting import plural
from dashboard.history_store import HistoryUnavailable
from dashboard.layout import ViewContext
from dashboard.live_store import LiveStore, LiveUnavailable
from dashboard.metric_columns import (
    IMBALANCE_VELOCITY,
    VTOB_RATIO,
    WEIGHTED_IMBALANCE,
    MetricColumns,
    imbalance_column,
)
from dashboard.metric_help import metric_help
from dashboard.metric_panels import depth_cards, flow_cards, with_imbalance_of
from dashboard.resources import live_store
from dashboard.tables import alerts_frame, bars_frame, filter_alerts, metric_cards, resample_bars
from dashboard.time_window import TimeWindow, bucket_seconds, now_ms
from schemas import split_record_key

SERIES_MAX_POINTS = 1_000
CANDLES_MAX = 120
HEATMAP_MAX_COLUMNS = 240
# The metric charts are a third of the page wide: fewer points than the series keep their JSON small.
METRIC_CHART_MAX_POINTS = 300
ALERT_MARKERS_MAX = 500
CARD_LOOKBACK_S = 60
CARDS_PER_ROW = 3


@dataclass
class SymbolData:
    """Everything the view draws, with a note per part that could not be loaded."""

    key: str
    window: TimeWindow
    latest: dict[str, Any] | None
    book: dict[str, Any] | None
    recent_bars: pd.DataFrame  # 1 s bars of the card lookback, for deltas
    series: pd.DataFrame
    series_bucket_s: int
    alerts: pd.DataFrame
    snapshots: pd.DataFrame | None
    heatmap_bucket_s: int
    problems: list[str]
    level: int  # the top-N imbalance of the gauge, card and series
    metrics: pd.DataFrame | None = None  # book-shape metrics per chart bucket; None: no database


def metric_query(columns: MetricColumns) -> dict[str, tuple[str, ...]]:
    """What `metric_series` aggregates for the metric charts: means of weighted imbalance, VTOB
    and the depths, the range of velocity, depth completeness per bucket."""
    bands = columns.depth_bands
    return {
        "means": (WEIGHTED_IMBALANCE, VTOB_RATIO, *(c for b in bands for c in (b.bid, b.ask))),
        "ranges": (IMBALANCE_VELOCITY,),
        "all_true": tuple(b.complete for b in bands),
    }


def load(
    key: str,
    window: TimeWindow,
    live: LiveStore,
    now: int,
    columns: MetricColumns | None = None,
    level: int | None = None,
) -> SymbolData:
    """Fetches the view's data: live parts from Redis, history through the cached queries.
    `level` is the picked imbalance level (default: the one the symbol's alerts watch)."""
    columns = columns or MetricColumns(AlertSettings(), MetricsJobSettings())
    level = level or columns.imbalance_level(split_record_key(key)[1])
    problems: list[str] = []
    metrics: pd.DataFrame | None = None
    latest = book = None
    recent: list[dict[str, Any]] = []
    redis_bars: list[dict[str, Any]] | None = None
    try:
        latest = live.latest_many([key]).get(key)
        book = live.book(key)
        recent = live.bars(key, "1s", now - (CARD_LOOKBACK_S + 5) * 1000)
    except LiveUnavailable:
        problems.append("Redis is down: no live gauge, cards or depth.")
    series_bucket = bucket_seconds(window.seconds, SERIES_MAX_POINTS)
    heat_bucket = bucket_seconds(window.seconds, HEATMAP_MAX_COLUMNS)
    snapshots: pd.DataFrame | None = None
    try:
        series = cached_queries.bars(key, window.start_ms, window.end_ms, series_bucket)
        rows, _ = cached_queries.alerts(window.start_ms, window.end_ms, (key,), limit=ALERT_MARKERS_MAX)
        alerts = alerts_frame(rows)
        snapshots = cached_queries.snapshots(key, window.start_ms, window.end_ms, heat_bucket)
        metrics = cached_queries.metric_series(
            key,
            window.start_ms,
            window.end_ms,
            bucket_seconds(window.seconds, METRIC_CHART_MAX_POINTS),
            **metric_query(columns),
        )
        if level != columns.bars_imbalance_level:  # the picked level in the series' buckets
            column = imbalance_column(level)
            picked = cached_queries.metric_series(
                key, window.start_ms, window.end_ms, series_bucket, ranges=(column,)
            )
            series = with_imbalance_of(series, picked, column)
    except HistoryUnavailable:
        problems.append(
            "PostgreSQL is down: history limited to the last hour of bars kept in Redis; "
            "no heatmap and no history of weighted imbalance, VTOB, depth or velocity."
        )
        if level != columns.bars_imbalance_level:
            problems.append(
                f"The Redis bars hold the top-{columns.bars_imbalance_level} imbalance only: "
                f"no top-{level} series without the database."
            )
        try:
            redis_bars = live.bars(key, "1s", window.start_ms, window.end_ms)
            series = (
                resample_bars(bars_frame(redis_bars), series_bucket)
                if series_bucket > 1
                else bars_frame(redis_bars)
            )
            alerts = filter_alerts(
                alerts_frame(live.recent_alerts(1_000)),
                symbols=[key],
                start_ms=window.start_ms,
                end_ms=window.end_ms,
            )
        except LiveUnavailable:
            series, alerts = bars_frame([]), alerts_frame([])
    return SymbolData(
        key,
        window,
        latest,
        book,
        bars_frame(recent),
        series,
        series_bucket,
        alerts,
        snapshots,
        heat_bucket,
        problems,
        level,
        metrics,
    )


def candles_of(series: pd.DataFrame, window: TimeWindow, series_bucket_s: int) -> tuple[pd.DataFrame, int]:
    bucket = max(series_bucket_s, bucket_seconds(window.seconds, CANDLES_MAX))
    return (resample_bars(series, bucket) if bucket > series_bucket_s else series), bucket


def build_figures(data: SymbolData, ctx: ViewContext) -> dict[str, Any]:
    """All figures of the view from loaded data (also what the benchmark measures)."""
    symbol = split_record_key(data.key)[1]
    thresholds = ctx.columns.thresholds(symbol)
    level = data.level
    alert_level = ctx.columns.imbalance_level(symbol)
    latest = data.latest or {}
    imbalance = latest.get(imbalance_column(level))
    revision = data.key
    ohlc, candle_bucket = candles_of(data.series, data.window, data.series_bucket_s)
    figs: dict[str, Any] = {
        "gauge": figures.imbalance_gauge(
            imbalance,
            thresholds["imbalance_medium"],
            thresholds["imbalance_high"],
            level,
            revision,
            alert_level=alert_level,
        ),
        "series": figures.imbalance_mid_series(
            data.series,
            data.alerts,
            revision,
            level=level if data.metrics is not None else ctx.columns.bars_imbalance_level,
        ),
        "candles": figures.candles(ohlc, candle_bucket, revision),
        "depth": figures.depth_chart(
            depth_curves(data.book),
            latest.get("mid"),
            latest.get("microprice") or microprice(data.book),
            revision,
        ),
    }
    if data.metrics is not None:
        metrics = ctx.columns.metrics
        figs["weighted_vtob"] = metric_figures.weighted_vtob_series(data.metrics, metrics, revision)
        figs["depth_bands"] = metric_figures.depth_series(
            data.metrics, ctx.columns.depth_bands, metrics, revision
        )
        figs["velocity"] = metric_figures.velocity_series(
            data.metrics, ctx.columns.velocity_threshold(symbol), metrics, revision
        )
    if data.snapshots is not None:
        figs["heatmap"] = figures.liquidity_heatmap(liquidity_grid(data.snapshots), revision)
    return figs


def _book_shape_charts(figs: dict[str, Any], data: SymbolData, ctx: ViewContext) -> None:
    """Weighted imbalance/VTOB, depth bands and velocity over time, each with what it means."""
    metrics = ctx.columns.metrics
    left, middle, right = st.columns(3)
    for col, name, helps in (
        (left, "weighted_vtob", ("weighted_imbalance", "vtob_ratio")),
        (middle, "depth_bands", ("depth",)),
        (right, "velocity", ("imbalance_velocity",)),
    ):
        with col:
            st.plotly_chart(figs[name], key=name)
            texts = [metric_help(h, metrics, bps="X") for h in helps]
            st.caption(" · ".join(f"**{t.label}**: {t.help}" for t in texts))
    if data.metrics is not None and data.metrics.empty:
        st.caption("No stored metrics in this range: the charts above fill as the sink stores updates.")


def _pick_symbol(ctx: ViewContext) -> str | None:
    options = ctx.keys or ctx.all_keys
    if not options:
        return None
    wanted = st.session_state.get("symbol_key")
    if wanted and wanted not in options:
        options = [wanted, *options]
    index = options.index(wanted) if wanted in options else 0
    key = st.selectbox("Symbol", options, index=index, key="symbol_select")
    st.session_state["symbol_key"] = key
    return str(key)


def _pick_level(ctx: ViewContext, symbol: str) -> int:
    """The imbalance level of the gauge, card and series; starts at the one the alerts watch."""
    alert_level = ctx.columns.imbalance_level(symbol)
    picked = st.segmented_control(
        "Imbalance level",
        ctx.columns.imbalance_levels,
        default=alert_level,
        format_func=lambda n: f"top-{n}",
        key="imbalance_level",
        required=True,
        help=f"levels per side in the imbalance of the gauge, card and chart; this symbol's alerts "
        f"watch top-{alert_level}",
    )
    return int(picked or alert_level)


def render(ctx: ViewContext) -> None:
    head, level_col, pick = st.columns([3, 2, 1], vertical_alignment="bottom")
    with pick:
        key = _pick_symbol(ctx)
    with head:
        st.subheader(
            f"Symbol view · {key or ''}",
            help="Live values of the latest update (Redis) and their history (PostgreSQL). "
            "Every card and chart says what it measures: hover its ? or see Settings.",
        )
    if key is None:
        st.info("No symbols yet: neither Redis nor the database knows any.")
        return
    with level_col:
        level = _pick_level(ctx, split_record_key(key)[1])

    @st.fragment(run_every=ctx.refresh_s)
    def body() -> None:
        now = now_ms()
        data = load(key, ctx.window(), live_store(), now, ctx.columns, level)
        for problem in data.problems:
            st.warning(problem)
        figs = build_figures(data, ctx)
        gauge_col, cards_col = st.columns([1, 2], vertical_alignment="center")
        with gauge_col:
            st.plotly_chart(figs["gauge"], key="gauge", config={"displayModeBar": False})
        with cards_col:
            symbol = split_record_key(key)[1]
            cards = metric_cards(
                data.latest, data.recent_bars, now, ctx.columns, symbol, CARD_LOOKBACK_S, level=level
            )
            cards += flow_cards(data.latest, ctx.columns, symbol) + depth_cards(data.latest, ctx.columns)
            for row_start in range(0, len(cards), CARDS_PER_ROW):
                row = cards[row_start : row_start + CARDS_PER_ROW]
                for col, card in zip(st.columns(CARDS_PER_ROW), row, strict=False):
                    col.metric(
                        card.label,
                        card.value,
                        card.delta,
                        help=card.help,
                        border=True,
                        delta_color="off" if card.note else "normal",
                        delta_arrow="off" if card.note else "auto",
                    )
            if data.latest:
                age = (now - int(data.latest["event_time"])) / 1000
                st.caption(
                    f"Live from Redis · event {age:.1f} s ago · sequence {data.latest.get('sequence_id')}"
                )
            elif not data.problems:
                st.caption("No live value: the latest record expired (feed silent for longer than its TTL).")
        st.plotly_chart(figs["series"], key="series")
        if not data.alerts.empty:
            st.caption(
                f"{plural(len(data.alerts), 'alert')} in the last {ctx.range_label} (markers on the imbalance line)."
            )
        if data.metrics is not None:
            _book_shape_charts(figs, data, ctx)
        left, right = st.columns(2)
        with left:
            st.plotly_chart(figs["depth"], key="depth")
        with right:
            st.plotly_chart(figs["candles"], key="candles")
        if "heatmap" in figs:
            st.plotly_chart(figs["heatmap"], key="heatmap", theme=None)

    body()
