"""Settings: the alert thresholds in force, per symbol (defaults plus OBM_ALERT_OVERRIDES), what
each metric means, and where the dashboard reads from. Read-only: thresholds belong to the alert
job's configuration."""

from __future__ import annotations

import streamlit as st

from dashboard.layout import ViewContext
from dashboard.metric_help import glossary
from dashboard.resources import dashboard_settings, redis_settings
from dashboard.thresholds import overridden_cells, thresholds_frame
from schemas import split_record_key


def render(ctx: ViewContext) -> None:
    st.subheader("Settings")
    st.markdown(
        "**Alert thresholds in force**, per symbol. Highlighted cells are per-symbol overrides "
        "(`OBM_ALERT_OVERRIDES`); the rest are the defaults (`OBM_ALERT_*`)."
    )
    symbols = sorted({split_record_key(k)[1] for k in ctx.all_keys} | set(ctx.alerts.overrides))
    frame = thresholds_frame(ctx.alerts, symbols)
    marks = overridden_cells(ctx.alerts, frame)
    st.dataframe(
        frame.style.apply(lambda _: marks, axis=None).format("{:g}", subset=list(frame.columns[2:])),
        hide_index=True,
        height=(len(frame) + 1) * 35 + 3,
    )
    st.markdown("**What the metrics mean** (docs/metrics.md; parameters as the metrics job runs)")
    st.dataframe(
        {
            "metric": [m.label for m in glossary(ctx.metrics)],
            "meaning": [m.help for m in glossary(ctx.metrics)],
        },
        hide_index=True,
        key="metric_glossary",
    )
    st.markdown("**Dashboard**")
    redis = redis_settings()
    st.dataframe(
        {
            "setting": ["refresh (default)", "Redis", "Redis key prefix", "latest value TTL", "symbols from"],
            "value": [
                f"{dashboard_settings().refresh_s} s",
                f"{redis.host}:{redis.port}/{redis.db}",
                redis.key_prefix,
                f"{redis.latest_ttl_s} s",
                ctx.symbols_source,
            ],
        },
        hide_index=True,
    )
