"""Entry point: `streamlit run dashboard/app.py`.

Builds the frame (sidebar, data-source health header) once per run, then runs the chosen page.
Pages are functions of `dashboard.views`, each given the same `ViewContext`; their live parts
run in fragments that refresh at the sidebar's rate, so a refresh redraws the numbers and charts,
not the whole app.
"""

from __future__ import annotations

import streamlit as st

from dashboard import layout
from dashboard.views import alerts, analytics, export, overview, rules, settings, symbol

st.set_page_config(page_title="Order book monitor", page_icon=":material/monitoring:", layout="wide")

ctx = layout.render_sidebar()


@st.fragment(run_every=ctx.refresh_s)
def _health() -> None:
    layout.render_health(layout.check_sources())


_health()

pages = {
    "overview": st.Page(
        lambda: overview.render(ctx),
        title="Overview",
        icon=":material/table:",
        url_path="overview",
        default=True,
    ),
    "symbol": st.Page(
        lambda: symbol.render(ctx),
        title="Symbol view",
        icon=":material/candlestick_chart:",
        url_path="symbol",
    ),
    "alerts": st.Page(
        lambda: alerts.render(ctx), title="Alerts", icon=":material/notifications:", url_path="alerts"
    ),
    "rules": st.Page(lambda: rules.render(ctx), title="Rules", icon=":material/rule:", url_path="rules"),
    "analytics": st.Page(
        lambda: analytics.render(ctx), title="Analytics", icon=":material/query_stats:", url_path="analytics"
    ),
    "export": st.Page(
        lambda: export.render(ctx), title="Export", icon=":material/download:", url_path="export"
    ),
    "settings": st.Page(
        lambda: settings.render(ctx), title="Settings", icon=":material/tune:", url_path="settings"
    ),
}
st.session_state["_pages"] = pages
st.navigation(list(pages.values()), position="top").run()
