"""Alerts: the feed with filters (severity, type, symbol), time-ago, pagination and live updates.

The feed pages through PostgreSQL (filters and LIMIT/OFFSET in SQL, bounded by the time range);
with the database down it falls back to the newest entries of the Redis stream, filtered here.
Live updates: the feed is a fragment that re-reads at the sidebar's refresh rate, and says how
many alerts arrived since the page was opened. Below it, the silences of alert delivery.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import cached_queries, silence_panel
from dashboard.formatting import plural, severity_css
from dashboard.history_store import HistoryUnavailable
from dashboard.layout import ViewContext
from dashboard.live_store import LiveUnavailable
from dashboard.resources import live_store
from dashboard.tables import alert_feed_table, alerts_frame, filter_alerts, page_count, paginate
from dashboard.time_window import now_ms
from schemas import Topic, load_schema

SEVERITIES = ["high", "medium", "low"]
# Every type of the alerts schema: the built-in ones and user_rule (the user rules, docs/rules.md).
ALERT_TYPES: list[str] = load_schema(Topic.ALERTS)["properties"]["alert_type"]["enum"]
PAGE_SIZES = [25, 50, 100]
REDIS_FALLBACK_COUNT = 2_000


def _load_page(ctx: ViewContext, filters: dict[str, Any], page: int, size: int) -> tuple[Any, int, str]:
    window = ctx.window()
    try:
        rows, total = cached_queries.alerts(
            window.start_ms,
            window.end_ms,
            tuple(filters["keys"]),
            tuple(filters["severities"]),
            tuple(filters["types"]),
            limit=size,
            offset=(page - 1) * size,
        )
        return alerts_frame(rows), total, "PostgreSQL"
    except HistoryUnavailable:
        pass
    try:
        frame = filter_alerts(
            alerts_frame(live_store().recent_alerts(REDIS_FALLBACK_COUNT)),
            severities=filters["severities"],
            alert_types=filters["types"],
            symbols=filters["keys"],
            start_ms=window.start_ms,
            end_ms=window.end_ms,
        )
    except LiveUnavailable:
        return None, 0, "none"
    return paginate(frame, page, size), len(frame), "Redis"


def render(ctx: ViewContext) -> None:
    st.subheader("Alerts")
    f1, f2, f3, f4 = st.columns([2, 3, 3, 1])
    severities = f1.multiselect("Severity", SEVERITIES, key="alert_severity", placeholder="all")
    types = f2.multiselect("Type", ALERT_TYPES, key="alert_type", placeholder="all")
    keys = f3.multiselect(
        "Symbol", ctx.all_keys, default=None, key="alert_symbols", placeholder="sidebar's symbols"
    )
    size = f4.selectbox("Per page", PAGE_SIZES, index=0, key="alert_page_size")
    filters = {"severities": severities, "types": types, "keys": keys or ctx.keys}
    opened = st.session_state.setdefault("alerts_opened_ms", now_ms())

    @st.fragment(run_every=ctx.refresh_s)
    def feed() -> None:
        page = int(st.session_state.get("alert_page", 1))
        frame, total, source = _load_page(ctx, filters, page, int(size))
        if frame is None:
            st.error("No alerts to show: PostgreSQL and Redis are both unreachable.")
            return
        now = now_ms()
        fresh = int((frame["event_time_ms"] >= opened).sum()) if page == 1 else 0
        info = f"{plural(total, 'alert')} in the last {ctx.range_label} · from {source}"
        if fresh:
            info += f" · **{fresh} new** since you opened this page"
        st.markdown(info)
        if source == "Redis":
            st.caption(f"PostgreSQL is down: the newest {REDIS_FALLBACK_COUNT} alerts of the Redis stream.")
        if frame.empty:
            st.info("No alert matches these filters in this time range.")
        else:
            table = alert_feed_table(frame, now)
            st.dataframe(
                table.style.map(severity_css, subset=["Severity"]),
                hide_index=True,
                height=(len(table) + 1) * 35 + 3,
                column_config={
                    "Value": st.column_config.NumberColumn(format="%+.3f"),
                    "Threshold": st.column_config.NumberColumn(format="%.3f"),
                    "Message": st.column_config.TextColumn(width="large"),
                },
            )
        pages = page_count(total, int(size))
        st.pagination(pages, default=min(page, pages), key="alert_page")

    feed()
    silence_panel.render()
