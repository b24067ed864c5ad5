"""The embedded local stack's own settings: where its state, logs, jars and vendored sources live."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from config.settings.base import REPO_ROOT, env_config


class StackSettings(BaseSettings):
    """The embedded local stack: where its state, logs and jars live."""

    model_config = env_config("OBM_")

    state_dir: Path = REPO_ROOT / ".state"
    jars_dir: Path = REPO_ROOT / ".cache" / "jars"
    # How long `obm up` waits for one component to become healthy.
    start_timeout_s: float = 120.0
    # Sources scripts/bootstrap.sh builds when their package is missing (TimescaleDB:
    # timescaledb-<version>.tar.gz); beside the repository, like the shared data.
    vendor_dir: Path = REPO_ROOT / ".." / "shared" / "vendor"
    # Where the test session's Kafka, PostgreSQL and Redis run: local processes, as `obm up` runs
    # them (local); containers of Redpanda, TimescaleDB and Redis (containers: needs a Docker engine
    # and the testcontainers package); or containers when a Docker engine answers, else local (auto).
    test_services: Literal["local", "containers", "auto"] = "local"
    # Producers side by side, one process per entry `venue[:market]` (binance, okx:swap, bybit,
    # gateio, hyperliquid, ...; a bare venue is its default market), each with its venue's default
    # symbols (producer/venue_defaults.py) and /metrics on ProducerSettings.metrics_port + 20 * i.
    # Empty: the one producer of ProducerSettings (exchange, market, symbols). `obm up --exchanges`.
    exchanges: list[str] = Field(default_factory=list)
