"""Alerts: the feed with filters (severity, type, symbol), time-ago, pagination and live updates.

The feed pages through PostgreSQL (filters and LIMIT/OFFSET in SQL, bounded by the time range);
with the database down it falls back to the newest entries of the Redis stream, filtered here.
Live updates: the feed is a fragment that re-reads at the sidebar's refresh rate, and says how
many alerts arrived since the page was opened. Each alert says why it fired (its context: the
value against the symbol's baseline, the book at that moment). Above the feed, each rule's
measured hit rate on the feed's symbols; below it, the silences of alert delivery.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import cached_queries, silence_panel
from dashboard.formatting import plural, severity_css
from dashboard.history_store import HistoryUnavailable
from dashboard.hit_rates import HIT_RATE_RANGES, MIN_NONZERO_MOVES
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
                    "Why": st.column_config.TextColumn(
                        width="large", help="the value against this symbol's own baseline (adaptive rules)"
                    ),
                    "Book": st.column_config.TextColumn(
                        width="large",
                        help="mid · best bid × size | best ask × size · spread · depth bid | ask",
                    ),
                },
            )
        pages = page_count(total, int(size))
        st.pagination(pages, default=min(page, pages), key="alert_page")

    _rule_hit_rates(filters["keys"], types)
    feed()
    silence_panel.render()


def _rule_hit_rates(keys: list[str], types: list[str]) -> None:
    """Next to each rule, how informative its alerts have been on the feed's symbols (the
    definitions of `obm alerts evaluate`, dashboard/hit_rates.py), measured over a range of its own."""
    head, pick = st.columns([4, 1])
    label = pick.selectbox("Measured over", list(HIT_RATE_RANGES), index=2, key="alert_hit_range")
    end_ms = -(-now_ms() // cached_queries.HIT_RATE_STEP_MS) * cached_queries.HIT_RATE_STEP_MS
    head.markdown(f"**Each rule's measured hit rate** · last {label}, the feed's symbols")
    rules = tuple(types) or tuple(ALERT_TYPES)
    try:
        table = cached_queries.hit_rates(
            end_ms - HIT_RATE_RANGES[label] * 1000, end_ms, tuple(keys), tuple(types), rules
        )
    except HistoryUnavailable as exc:
        st.caption(f"No hit rates: they are measured on the stored history ({exc}).")
        return
    st.dataframe(table, hide_index=True)
    st.caption(
        "After 5 s / 30 s: the share of alerts after which the mid moved the way the alert pointed (moves "
        "of 0 left out) and the mean move in bps signed by the alert's direction (n = nonzero / all); "
        "spread widening and user rules point nowhere, so their mean |move|. Unconditional: the same "
        "symbols at every second of the range (up: the share of nonzero moves that went up). With fewer "
        f"than {MIN_NONZERO_MOVES} nonzero moves: n too small. As `obm alerts evaluate` measures "
        "(docs/alerts.md)."
    )
