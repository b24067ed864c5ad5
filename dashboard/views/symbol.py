"""Symbol view: gauge and metric cards (live, Redis), imbalance/mid history with alert markers,
cumulative depth (live book), candles and the liquidity heatmap (history, PostgreSQL).

Each part degrades on its own: with Redis down the history still draws; with PostgreSQL down the
series and candles come from the last hour of bars kept in Redis, and the heatmap says it needs
the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import cached_queries, figures
from dashboard.book_depth import depth_curves, liquidity_grid, microprice
from dashboard.formatting import plural
from dashboard.history_store import HistoryUnavailable
from dashboard.layout import ViewContext
from dashboard.live_store import LiveStore, LiveUnavailable
from dashboard.resources import live_store
from dashboard.tables import alerts_frame, bars_frame, filter_alerts, metric_cards, resample_bars
from dashboard.time_window import TimeWindow, bucket_seconds, now_ms
from schemas import split_record_key

SERIES_MAX_POINTS = 1_000
CANDLES_MAX = 120
HEATMAP_MAX_COLUMNS = 240
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


def load(key: str, window: TimeWindow, live: LiveStore, now: int) -> SymbolData:
    """Fetches the view's data: live parts from Redis, history through the cached queries."""
    problems: list[str] = []
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
    except HistoryUnavailable:
        problems.append("PostgreSQL is down: history limited to the last hour kept in Redis; no heatmap.")
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
    )


def candles_of(series: pd.DataFrame, window: TimeWindow, series_bucket_s: int) -> tuple[pd.DataFrame, int]:
    bucket = max(series_bucket_s, bucket_seconds(window.seconds, CANDLES_MAX))
    return (resample_bars(series, bucket) if bucket > series_bucket_s else series), bucket


def build_figures(data: SymbolData, ctx: ViewContext) -> dict[str, Any]:
    """All figures of the view from loaded data (also what the benchmark measures)."""
    symbol = split_record_key(data.key)[1]
    thresholds = ctx.columns.thresholds(symbol)
    level = ctx.columns.imbalance_level(symbol)
    latest = data.latest or {}
    imbalance = latest.get(ctx.columns.imbalance(symbol))
    revision = data.key
    ohlc, candle_bucket = candles_of(data.series, data.window, data.series_bucket_s)
    figs: dict[str, Any] = {
        "gauge": figures.imbalance_gauge(
            imbalance, thresholds["imbalance_medium"], thresholds["imbalance_high"], level, revision
        ),
        "series": figures.imbalance_mid_series(
            data.series, data.alerts, revision, level=ctx.columns.bars_imbalance_level
        ),
        "candles": figures.candles(ohlc, candle_bucket, revision),
        "depth": figures.depth_chart(
            depth_curves(data.book),
            latest.get("mid"),
            latest.get("microprice") or microprice(data.book),
            revision,
        ),
    }
    if data.snapshots is not None:
        figs["heatmap"] = figures.liquidity_heatmap(liquidity_grid(data.snapshots), revision)
    return figs


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


def render(ctx: ViewContext) -> None:
    head, pick = st.columns([3, 1], vertical_alignment="bottom")
    with pick:
        key = _pick_symbol(ctx)
    with head:
        st.subheader(f"Symbol view · {key or ''}")
    if key is None:
        st.info("No symbols yet: neither Redis nor the database knows any.")
        return

    @st.fragment(run_every=ctx.refresh_s)
    def body() -> None:
        now = now_ms()
        data = load(key, ctx.window(), live_store(), now)
        for problem in data.problems:
            st.warning(problem)
        figs = build_figures(data, ctx)
        gauge_col, cards_col = st.columns([1, 2], vertical_alignment="center")
        with gauge_col:
            st.plotly_chart(figs["gauge"], key="gauge", config={"displayModeBar": False})
        with cards_col:
            cards = metric_cards(
                data.latest, data.recent_bars, now, ctx.columns, split_record_key(key)[1], CARD_LOOKBACK_S
            )
            for row_start in range(0, len(cards), CARDS_PER_ROW):
                row = cards[row_start : row_start + CARDS_PER_ROW]
                for col, card in zip(st.columns(CARDS_PER_ROW), row, strict=False):
                    col.metric(card.label, card.value, card.delta, help=card.help, border=True)
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
        left, right = st.columns(2)
        with left:
            st.plotly_chart(figs["depth"], key="depth")
        with right:
            st.plotly_chart(figs["candles"], key="candles")
        if "heatmap" in figs:
            st.plotly_chart(figs["heatmap"], key="heatmap", theme=None)

    body()
