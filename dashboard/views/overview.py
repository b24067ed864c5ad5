"""Overview: every symbol in one sortable, colour-coded table, live from Redis; from the last
stored rows in PostgreSQL when Redis is down. Selecting a row opens its symbol view. Besides the
fixed columns the user picks more (imbalance at any published level, weighted imbalance, VTOB
ratio, imbalance velocity, depth per band and side); a depth that is only a lower bound is marked."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import cached_queries
from dashboard.formatting import age_css, imbalance_css, signed_css, spread_css
from dashboard.history_store import HistoryUnavailable
from dashboard.layout import ViewContext
from dashboard.live_store import LiveUnavailable
from dashboard.metric_help import metric_help
from dashboard.metric_panels import overview_extras, overview_help, overview_options
from dashboard.resources import live_store
from dashboard.tables import imbalance_bands, overview_frame, threshold_note
from dashboard.time_window import now_ms
from schemas import record_key

FALLBACK_LOOKBACK_MS = 3_600_000
LOWER_BOUND_CSS = "font-style: italic; color: #b07d00"
DEFAULT_EXTRAS = ("Weighted imbalance", "VTOB ratio", "Imbalance velocity /s")


def load_rows(ctx: ViewContext, extras: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The overview frame with the chosen extra columns, where a depth cell is only a lower bound,
    and where the values came from."""
    keys = tuple(ctx.keys)
    last_alerts: Mapping[str, Mapping[str, Any] | None]
    latest: Mapping[str, Mapping[str, Any] | None]
    try:
        latest = live_store().latest_many(keys)
        last_alerts = live_store().last_alerts_many(keys)
        source = "Redis"
    except LiveUnavailable:
        since = now_ms() // 10_000 * 10_000 - FALLBACK_LOOKBACK_MS
        stored = cached_queries.latest_metrics(keys, since)
        last_alerts = cached_queries.last_alerts(keys, since)
        latest = {k: stored.get(k) for k in keys}
        source = "PostgreSQL"
    frame = overview_frame(latest, last_alerts, now_ms(), ctx.columns)
    records = [latest.get(record_key(e, s)) for e, s in zip(frame["Exchange"], frame["Symbol"], strict=True)]
    values, bounds = overview_extras(records, extras, ctx.columns)
    at = frame.columns.get_loc("Last alert")  # the chosen metrics next to the fixed ones
    frame = pd.concat([frame.iloc[:, :at], values, frame.iloc[:, at:]], axis=1)
    bounds = bounds.reindex(columns=frame.columns, fill_value=False)
    return frame, bounds, source


def styled(frame: pd.DataFrame, bands: pd.DataFrame, bounds: pd.DataFrame) -> pd.io.formats.style.Styler:
    """Imbalance cells coloured by the thresholds of their own symbol (`imbalance_bands`); depth
    cells that are only a lower bound in italics."""
    typical_spread = float(frame["Spread bps"].median()) if frame["Spread bps"].notna().any() else 0.0
    imbalance_colours = [
        imbalance_css(v, medium, high)
        for v, medium, high in zip(frame["Imbalance"], bands["medium"], bands["high"], strict=True)
    ]
    return (
        frame.style.apply(lambda _: imbalance_colours, subset=["Imbalance"])
        .map(signed_css, subset=["OFI", "Lean bps"])
        .map(lambda v: spread_css(v, typical_spread), subset=["Spread bps"])
        .map(age_css, subset=["Data age s"])
        .map(lambda v: "font-weight: 600" if v else "", subset=["Last alert"])
        .apply(lambda _: bounds.where(bounds, "").replace(True, LOWER_BOUND_CSS), axis=None)
    )


def column_config(ctx: ViewContext) -> dict[str, Any]:
    metrics = ctx.columns.metrics
    extras: dict[str, Any] = {
        label: st.column_config.NumberColumn(format="%.4g" if "depth" in label else "%+.3f", help=text)
        for label, text in overview_help(ctx.columns).items()
    }
    extras[metric_help("vtob_ratio", metrics).label] = st.column_config.NumberColumn(
        format="%.3f", help=metric_help("vtob_ratio", metrics).help
    )
    return extras | {
        "Mid": st.column_config.NumberColumn(format="%.6g", help=metric_help("mid", metrics).help),
        "Imbalance": st.column_config.NumberColumn(
            format="%+.3f", help=metric_help("imbalance", metrics, level="N").help + "; N = Levels"
        ),
        "Levels": st.column_config.NumberColumn(
            format="%d", help="levels per side in the imbalance: the ones this symbol's alerts watch"
        ),
        "Spread bps": st.column_config.NumberColumn(
            format="%.2f", help=metric_help("spread_bps", metrics).help
        ),
        "OFI": st.column_config.NumberColumn(format="%+.2f", help=metric_help("ofi", metrics).help),
        "Lean bps": st.column_config.NumberColumn(
            format="%+.2f", help=metric_help("microprice_lean_bps", metrics).help
        ),
        "Data age s": st.column_config.NumberColumn(
            format="%.1f", help="now - exchange event time; empty = expired"
        ),
    }


def render(ctx: ViewContext) -> None:
    st.subheader(
        "Overview",
        help="The latest update of every symbol, one row each; hover a column header for what it "
        "measures, click it to sort. Add metrics with 'More columns'.",
    )
    if not ctx.keys:
        st.info("No symbols yet: neither Redis nor the database knows any. Is the pipeline running?")
        return

    options = list(overview_options(ctx.columns))
    extras = st.multiselect(
        "More columns",
        options,
        default=[o for o in DEFAULT_EXTRAS if o in options],
        key="overview_extras",
        help="more metrics of the latest update, each a sortable column (click a header to sort)",
        placeholder="add metric columns",
    )

    @st.fragment(run_every=ctx.refresh_s)
    def table() -> None:
        try:
            frame, bounds, source = load_rows(ctx, list(extras))
        except HistoryUnavailable:
            st.error("No values to show: Redis and PostgreSQL are both unreachable.")
            return
        live = int(frame["Data age s"].notna().sum())
        bands = imbalance_bands(frame["Symbol"], ctx.columns)
        medium, high = (threshold_note(ctx.alerts, f"imbalance_{s}") for s in ("medium", "high"))
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Symbols", len(frame))
        c2.metric("Live", live, help="with a latest value that has not expired")
        c3.metric(
            "Strong imbalance",
            int((frame["Imbalance"].abs() >= bands["high"]).sum()),
            help=f"|imbalance| >= the high alert threshold of its symbol ({high})",
        )
        c4.metric("Values from", source)
        if source != "Redis":
            st.caption("Redis is down: these are the newest rows stored in PostgreSQL (last hour).")
        event = st.dataframe(
            styled(frame, bands, bounds),
            hide_index=True,
            column_config=column_config(ctx),
            on_select="rerun",
            selection_mode="single-row",
            key="overview_table",
        )
        rows = event.selection.rows if event is not None and hasattr(event, "selection") else []
        if rows:
            picked = frame.iloc[rows[0]]
            st.session_state["symbol_key"] = record_key(picked["Exchange"], picked["Symbol"])
            st.switch_page(st.session_state["_pages"]["symbol"])
        st.caption(
            "Click a row to open its symbol view. Colours: green = bid-heavy, red = ask-heavy; "
            f"strong at the alert thresholds of each symbol ({medium} / {high})."
            + (
                " Depth in italics: only a lower bound (the published levels end inside the band)."
                if bounds.to_numpy().any()
                else ""
            )
        )

    table()
