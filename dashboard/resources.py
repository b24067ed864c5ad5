"""Long-lived objects of the app process, created once and shared by every browser session
(`st.cache_resource`): the settings and one store per data source."""

from __future__ import annotations

import streamlit as st

from config import AlertSettings, DashboardSettings, MetricsJobSettings, PostgresSettings, RedisSettings
from dashboard.history_store import HistoryStore
from dashboard.live_store import LiveStore


@st.cache_resource
def redis_settings() -> RedisSettings:
    return RedisSettings()


@st.cache_resource
def dashboard_settings() -> DashboardSettings:
    return DashboardSettings()


@st.cache_resource
def alert_settings() -> AlertSettings:
    return AlertSettings()


@st.cache_resource
def metrics_settings() -> MetricsJobSettings:
    """The metrics job's settings: which imbalance and OFI columns it publishes."""
    return MetricsJobSettings()


@st.cache_resource
def live_store() -> LiveStore:
    return LiveStore(redis_settings())


@st.cache_resource
def history_store() -> HistoryStore:
    return HistoryStore(PostgresSettings())
