"""The Streamlit dashboard."""

from __future__ import annotations

from pydantic_settings import BaseSettings

from config.settings.base import env_config


class DashboardSettings(BaseSettings):
    model_config = env_config("OBM_DASHBOARD_")

    host: str = "127.0.0.1"
    port: int = 8501
    refresh_s: float = 1.0
