"""Analytics: a pair's stored analytics (prices normalized, β, spread with z-score and ±k bands,
return correlation, the latest ADF with a verdict in words, half-life), trade candles with volume
at 1 s / 1 min / 5 min, export of both and of the raw trades, and the same analysis of an uploaded tick file.

Stored data comes from the tables the sinks write (through AnalyticsStore, cached a few seconds
like the other pages); uploaded data is analysed in this process only (dashboard/tick_upload.py,
with the pairs job's own logic and settings) and never enters the live topics."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from config import PairSettings, PostgresSettings
from dashboard import analytics_figures as figures
from dashboard.analytics_store import (
    EXPORT_KINDS,
    EXPORT_PAIRS,
    EXPORT_TRADES,
    TRADE_BAR_INTERVALS,
    AnalyticsStore,
)
from dashboard.export_files import FORMATS, file_name, to_bytes
from dashboard.history_store import HistoryUnavailable
from dashboard.layout import ViewContext
from dashboard.tick_upload import TickFileError, bars_from_ticks, pair_from_ticks, parse_ticks
from dashboard.time_window import RANGE_PRESETS, TimeWindow, now_ms, window_ending_at
from flink_jobs.pair_analytics import PairParameters, PairSpec

TTL_S = 3
MAX_CANDLES = 3_000
MAX_PAIR_POINTS = 21_600
MAX_EXPORT_ROWS = 1_000_000
# ADF p-value levels, strictest first, and how the verdict says them.
ADF_LEVELS = ((0.01, "1%"), (0.05, "5%"), (0.10, "10%"))


@st.cache_resource
def analytics_store() -> AnalyticsStore:
    return AnalyticsStore(PostgresSettings())


@st.cache_resource
def pair_parameters() -> PairParameters:
    """The pairs job's settings, so an uploaded pair is computed as a live one."""
    s = PairSettings()
    return PairParameters(s.window_s, s.min_points, s.fill_max_age_ms, s.adf_every_s, s.adf_points)


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=64)
def _trade_bars(key: str, interval: str, start_ms: int, end_ms: int) -> pd.DataFrame:
    return analytics_store().trade_bars(key, interval, TimeWindow(start_ms, end_ms), MAX_CANDLES)


@st.cache_data(ttl=TTL_S, show_spinner=False, max_entries=64)
def _pair_analytics(pair: str, start_ms: int, end_ms: int) -> pd.DataFrame:
    return analytics_store().pair_analytics(pair, TimeWindow(start_ms, end_ms), MAX_PAIR_POINTS)


@st.cache_data(ttl=30, show_spinner=False, max_entries=8)
def _trade_symbols(since_ms: int) -> list[str]:
    return analytics_store().trade_symbols(datetime.fromtimestamp(since_ms / 1000, tz=UTC))


@st.cache_data(ttl=30, show_spinner=False, max_entries=8)
def _traded_symbols(since_ms: int) -> list[str]:
    return analytics_store().traded_symbols(datetime.fromtimestamp(since_ms / 1000, tz=UTC))


@st.cache_data(ttl=30, show_spinner=False, max_entries=8)
def _pairs(since_ms: int) -> list[str]:
    return analytics_store().pairs(datetime.fromtimestamp(since_ms / 1000, tz=UTC))


def adf_verdict(pvalue: float | None) -> str:
    """The ADF result in words: the strictest usual level at which the test rejects a unit root
    in the spread (the spread is then mean-reverting at that level), or "no evidence" (of mean
    reversion: short, so the card shows it whole; its help says it in full)."""
    if pvalue is None or math.isnan(pvalue):
        return "no ADF test yet"
    for level, label in ADF_LEVELS:
        if pvalue < level:
            return f"mean-reverting at {label}"
    return "no evidence"


def _number(value: float | None, digits: int = 4) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.{digits}g}"


def render(ctx: ViewContext) -> None:
    st.subheader("Analytics")
    labels = list(RANGE_PRESETS)
    label = st.selectbox("Window", labels, index=labels.index(ctx.range_label), key="analytics_window")
    window = window_ending_at(RANGE_PRESETS[str(label)], now_ms())
    stored, upload, export = st.tabs(["Stored", "Upload ticks", "Export"])
    with stored:
        for section in (_stored_pair, _stored_candles):
            try:
                section(window)
            except HistoryUnavailable as exc:
                st.error(f"The database is unreachable: {exc}")
    with upload:
        _upload()
    with export:
        _export()


def _stored_pair(window: TimeWindow) -> None:
    st.markdown("#### Pair")
    pairs = _pairs(window.start_ms // 60_000 * 60_000)  # minute-aligned: one cache entry a minute
    if not pairs:
        st.info("No pair analytics stored in this window (the pairs job writes them for OBM_PAIRS_PAIRS).")
        return
    c1, c2 = st.columns([3, 1])
    pair = str(c1.selectbox("Pair (y / x)", pairs, key="analytics_pair"))
    k = float(c2.number_input("Bands ±k σ", 0.5, 5.0, 2.0, 0.5, key="analytics_k"))
    frame = _pair_analytics(pair, window.start_ms, window.end_ms)
    if len(frame) >= MAX_PAIR_POINTS:
        st.caption(f"The newest {MAX_PAIR_POINTS:,} seconds of the window.")
    spec = PairSpec.parse(pair)
    render_pair(frame, spec.y, spec.x, k, revision=pair)


def render_pair(frame: pd.DataFrame, y: str, x: str, k: float, revision: str = "") -> None:
    """The pair's latest values and charts; stored and uploaded pairs alike."""
    if frame.empty:
        st.info("No pair records in this window.")
        return
    last = frame.iloc[-1]
    cols = st.columns(4)
    cols[0].metric("β", _number(last["beta"]), help="OLS of ln y on ln x over the rolling window")
    cols[1].metric("z-score", _number(last["zscore"], 3))
    cols[2].metric("Return correlation", _number(last["return_corr"], 3))
    cols[3].metric("Half-life (s)", _number(last["half_life_s"], 3), help="AR(1) fit of the spread")
    adf_cols = st.columns([1, 1, 2, 1])  # the verdict is words: room for them
    adf_cols[0].metric("ADF statistic", _number(last["adf_stat"]))
    adf_cols[1].metric("ADF p-value", _number(last["adf_pvalue"], 3))
    adf_cols[2].metric(
        "ADF verdict",
        adf_verdict(last["adf_pvalue"]),
        help="Mean-reverting at a level: the ADF test rejects a unit root in the spread at that level. "
        "No evidence: it does not at 10%, so the spread may wander off.",
    )
    when = last["adf_time"]
    adf_cols[3].metric("ADF at (UTC)", "—" if pd.isna(when) else pd.Timestamp(when).strftime("%H:%M:%S"))
    st.plotly_chart(figures.normalized_prices(frame, y, x, revision), key=f"prices_{revision}")
    st.plotly_chart(figures.spread_and_zscore(frame, k, revision), key=f"spread_{revision}")
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(figures.hedge_ratio(frame, revision), key=f"beta_{revision}")
    with c2:
        st.plotly_chart(figures.return_correlation(frame, revision), key=f"corr_{revision}")
    with st.expander("Latest records"):
        st.dataframe(frame.iloc[::-1].head(50).reset_index(), hide_index=True, key=f"pair_rows_{revision}")


def _stored_candles(window: TimeWindow) -> None:
    st.markdown("#### Trade candles")
    symbols = _trade_symbols(now_ms() // 60_000 * 60_000 - 86_400_000)
    if not symbols:
        st.info("No trade bars stored in the last day (the trade_bars job writes them).")
        return
    c1, c2 = st.columns([3, 1])
    key = str(c1.selectbox("Symbol", symbols, key="analytics_symbol"))
    interval = str(
        c2.segmented_control(
            "Interval", list(TRADE_BAR_INTERVALS), default="1m", key="analytics_interval", required=True
        )
    )
    bars = _trade_bars(key, interval, window.start_ms, window.end_ms)
    if len(bars) >= MAX_CANDLES:
        st.caption(f"The newest {MAX_CANDLES:,} bars of the window: a longer interval shows all of it.")
    render_candles(bars, f"{key} {interval}", revision=f"{key}/{interval}")


def render_candles(bars: pd.DataFrame, label: str, revision: str = "") -> None:
    if bars.empty:
        st.info("No trade bars in this window.")
        return
    last = bars.iloc[-1]
    cols = st.columns(4)
    cols[0].metric("Close", f"{last['close']:g}")
    cols[1].metric("Volume", f"{last['volume']:g}")
    cols[2].metric("VWAP", f"{last['vwap']:g}")
    cols[3].metric("Trades", f"{int(last['trade_count']):,}")
    st.plotly_chart(figures.trade_candles(bars, label, revision), key=f"candles_{revision}")
    with st.expander("Latest bars"):
        st.dataframe(bars.iloc[::-1].head(50).reset_index(), hide_index=True, key=f"bar_rows_{revision}")


def _upload() -> None:
    st.caption(
        "A CSV with the columns timestamp (epoch ms or ISO-8601, UTC), symbol (SYMBOL or "
        "exchange:SYMBOL), price, size. Analysed here only: nothing is sent to the live topics."
    )
    file = st.file_uploader("Tick file", type=["csv"], key="analytics_upload")
    if file is None:
        return
    try:
        ticks = parse_ticks(file.getvalue())
    except TickFileError as exc:
        st.error("The file cannot be analysed:\n\n" + "\n".join(f"- {p}" for p in exc.problems))
        return
    keys = sorted(ticks["key"].unique())
    st.success(f"{len(ticks):,} ticks of {len(keys)} symbol(s): {', '.join(keys)}")
    c1, c2 = st.columns([3, 1])
    key = str(c1.selectbox("Symbol", keys, key="upload_symbol"))
    interval = str(
        c2.segmented_control(
            "Interval", list(TRADE_BAR_INTERVALS), default="1s", key="upload_interval", required=True
        )
    )
    render_candles(bars_from_ticks(ticks, key, interval), f"{key} {interval} (uploaded)", revision="upload")
    if len(keys) < 2:
        st.info("Upload ticks of two symbols to analyse them as a pair.")
        return
    st.markdown("#### Pair of uploaded symbols")
    c1, c2, c3 = st.columns([2, 2, 1])
    y = str(c1.selectbox("y", keys, index=0, key="upload_y"))
    x = str(c2.selectbox("x", keys, index=1, key="upload_x"))
    k = float(c3.number_input("Bands ±k σ", 0.5, 5.0, 2.0, 0.5, key="upload_k"))
    if x == y:
        st.warning("Choose two different symbols.")
        return
    params = pair_parameters()
    try:
        frame = pair_from_ticks(ticks, y, x, params)
    except TickFileError as exc:
        st.error("; ".join(exc.problems))
        return
    if frame.empty:
        st.info(
            f"No pair record: the legs need {params.min_points} consecutive seconds with both closes "
            f"at most {params.fill_max_age_ms} ms old."
        )
        return
    st.caption(
        f"The pairs job's logic and settings: window {params.window_s} s, ADF every "
        f"{params.adf_every_s} s over {params.adf_points} points."
    )
    render_pair(frame, y, x, k, revision="upload-pair")


def _export() -> None:
    now = datetime.now(tz=UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    c1, c2, c3 = st.columns(3)
    kind = str(c1.selectbox("Data", list(EXPORT_KINDS), key="analytics_export_kind"))
    since = now_ms() - 7 * 86_400_000
    try:
        choices = (
            _pairs(since)
            if kind == EXPORT_PAIRS
            else _traded_symbols(since)
            if kind == EXPORT_TRADES
            else _trade_symbols(since)
        )
    except HistoryUnavailable as exc:
        st.error(f"The database is unreachable, nothing to export: {exc}")
        return
    if not choices:
        st.info("Nothing of this kind stored in the last week.")
        return
    subject = str(
        c2.selectbox("Pair" if kind == EXPORT_PAIRS else "Symbol", choices, key="analytics_export_of")
    )
    fmt = str(
        c3.segmented_control(
            "Format", list(FORMATS), default="CSV", key="analytics_export_fmt", required=True
        )
    )
    c4, c5 = st.columns(2)
    start = c4.datetime_input(
        "From (UTC)", value=now - timedelta(hours=1), key="analytics_export_from", step=60
    )
    end = c5.datetime_input("To (UTC)", value=now, key="analytics_export_to", step=60)
    if start is None or end is None or end <= start:
        st.warning("Choose a start before the end.")
        return
    window = TimeWindow(
        int(start.replace(tzinfo=start.tzinfo or UTC).timestamp() * 1000),
        int(end.replace(tzinfo=end.tzinfo or UTC).timestamp() * 1000),
    )
    if not st.button("Prepare export", type="primary", icon=":material/database:", key="analytics_export_go"):
        return
    try:
        frame = analytics_store().export_rows(kind, subject, window, MAX_EXPORT_ROWS)
    except HistoryUnavailable as exc:
        st.error(f"The database is unreachable, nothing to export: {exc}")
        return
    if len(frame) > MAX_EXPORT_ROWS:
        frame = frame.iloc[:MAX_EXPORT_ROWS]
        st.warning(f"Cut at {MAX_EXPORT_ROWS:,} rows: narrow the time range to get the rest.")
    if frame.empty:
        st.info("No rows in this time range.")
        return
    name = file_name(kind, subject.replace("/", "_"), window.start_ms, window.end_ms, fmt)
    data = to_bytes(frame, fmt)
    st.success(f"{len(frame):,} rows, {len(data) / 1024:,.0f} KiB")
    st.download_button(
        f"Download {name}", data, file_name=name, mime=FORMATS[fmt][1], icon=":material/download:"
    )
