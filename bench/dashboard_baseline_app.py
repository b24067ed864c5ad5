"""A minimal Streamlit app for bench.dashboard_browser_profile: the framework's fixed cost of a page
load in the browser (front-end bootstrap, websocket, one script run), without our dashboard.
`OBM_BASELINE_PLOTLY=1` adds one small Plotly chart, which makes the page load plotly.js too.

Run by the bench as `streamlit run bench/dashboard_baseline_app.py`; not part of the dashboard.
"""

from __future__ import annotations

import os

import plotly.graph_objects as go
import streamlit as st

st.set_page_config(page_title="baseline", layout="wide")
st.subheader("Baseline page")
if os.environ.get("OBM_BASELINE_PLOTLY") == "1":
    st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 3, 2])), key="baseline")
