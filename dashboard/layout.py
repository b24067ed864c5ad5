"""The frame around every page: the sidebar (symbols, time range, refresh rate) and the header
that shows the health of each data source. Pages get a `ViewContext` and never read widgets of
the sidebar themselves, so the choices are made in one place."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import streamlit as st

from config import AlertSettings, MetricsJobSettings
from dashboard import cached_queries
from dashboard.health import SourceStatus, Status, check_postgres, check_redis
from dashboard.history_store import HistoryUnavailable
from dashboard.live_store import LiveUnavailable
from dashboard.metric_columns import MetricColumns
from dashboard.resources import (
    alert_settings,
    dashboard_settings,
    history_store,
    live_store,
    metrics_settings,
)
from dashboard.time_window import RANGE_PRESETS, TimeWindow, now_ms, window_ending_at

REFRESH_CHOICES: dict[str, float | None] = {"off": None, "1 s": 1.0, "2 s": 2.0, "5 s": 5.0, "10 s": 10.0}


@dataclass
class ViewContext:
    keys: list[str]  # the symbols chosen in the sidebar, "exchange:symbol"
    all_keys: list[str]
    range_label: str
    range_s: int
    refresh_s: float | None
    alerts: AlertSettings
    symbols_source: str  # where the symbol list came from: "Redis", "PostgreSQL" or "none"
    notes: list[str] = field(default_factory=list)
    metrics: MetricsJobSettings = field(default_factory=MetricsJobSettings)

    def window(self) -> TimeWindow:
        return window_ending_at(self.range_s, now_ms())

    @property
    def columns(self) -> MetricColumns:
        """The metric columns and thresholds in force per symbol (alert overrides included)."""
        return MetricColumns(self.alerts, self.metrics)


def discover_symbols() -> tuple[list[str], str]:
    """Symbols from Redis (what is live), else from the last day of bars in the database."""
    try:
        keys = live_store().symbols()
        if keys:
            return keys, "Redis"
    except LiveUnavailable:
        pass
    try:
        return cached_queries.known_symbols(now_ms() // 60_000 * 60_000 - 86_400_000), "PostgreSQL"
    except HistoryUnavailable:
        return [], "none"


def _refresh_default() -> str:
    configured = dashboard_settings().refresh_s
    if configured <= 0:
        return "off"
    for label, seconds in REFRESH_CHOICES.items():
        if seconds is not None and seconds >= configured:
            return label
    return "5 s"


def render_sidebar() -> ViewContext:
    """The sidebar's choices as a ViewContext; stops the run with the reason when the settings name
    a metric column that nobody publishes (no page could show it)."""
    try:
        MetricColumns(alert_settings(), metrics_settings()).check()
    except ValueError as exc:
        st.error(f"Settings error: {exc}")
        st.stop()
    all_keys, source = discover_symbols()
    with st.sidebar:
        st.markdown("### Order book monitor")
        chosen = st.multiselect(
            "Symbols",
            all_keys,
            default=all_keys,
            key="symbols",
            help=f"exchange:symbol, from {source}. Empty = all.",
            placeholder="all symbols",
        )
        range_label = st.selectbox("Time range", list(RANGE_PRESETS), index=2, key="range")
        refresh_label = st.segmented_control(
            "Refresh",
            list(REFRESH_CHOICES),
            default=_refresh_default(),
            key="refresh",
            required=True,
        )
        st.caption("Times in UTC. Live values from Redis, history from PostgreSQL.")
    return ViewContext(
        keys=list(chosen) or list(all_keys),
        all_keys=list(all_keys),
        range_label=str(range_label),
        range_s=RANGE_PRESETS[str(range_label)],
        refresh_s=REFRESH_CHOICES[str(refresh_label or "off")],
        alerts=alert_settings(),
        symbols_source=source,
        metrics=metrics_settings(),
    )


_BADGE: dict[Status, tuple[Literal["green", "orange", "red"], str]] = {
    Status.UP: ("green", ":material/check_circle:"),
    Status.DEGRADED: ("orange", ":material/warning:"),
    Status.DOWN: ("red", ":material/error:"),
}


def check_sources() -> list[SourceStatus]:
    return [check_redis(live_store(), now_ms()), check_postgres(history_store())]


def render_health(statuses: list[SourceStatus]) -> None:
    """One badge per source and, when one is down, a sentence saying what that means."""
    cols = st.columns(len(statuses) + 1, vertical_alignment="center")
    for col, status in zip(cols, statuses, strict=False):
        colour, icon = _BADGE[status.status]
        with col:
            st.badge(f"{status.name}: {status.status.value}", color=colour, icon=icon, help=status.detail)
            st.caption(status.detail)
    down = {s.name.split(" ")[0] for s in statuses if s.status is Status.DOWN}
    if "Redis" in down and "PostgreSQL" in down:
        st.error("Redis and PostgreSQL are both down: no live values and no history can be shown.")
    elif "Redis" in down:
        st.warning(
            "Redis is down: live values are unavailable; showing the last values stored in PostgreSQL."
        )
    elif "PostgreSQL" in down:
        st.warning("PostgreSQL is down: history is unavailable; showing live values from Redis (last hour).")
