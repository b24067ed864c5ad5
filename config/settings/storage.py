"""The stores the sinks write to: PostgreSQL (TimescaleDB) and Redis."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from config.settings.base import env_config


class PostgresSettings(BaseSettings):
    """TimescaleDB in Compose, plain PostgreSQL where the extension is absent."""

    model_config = env_config("OBM_PG_")

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "obm"
    password: SecretStr = SecretStr("obm-local-only")
    database: str = "orderbook"
    # Embedded server only: TimescaleDB preloaded when it is installed (auto), required (on), or plain
    # PostgreSQL (off). scripts/bootstrap.sh builds it from the source in OBM_VENDOR_DIR when missing.
    timescaledb: Literal["auto", "on", "off"] = "auto"

    def conninfo(self) -> str:
        """A libpq connection string (psycopg 3)."""
        return (
            f"host={self.host} port={self.port} user={self.user} "
            f"password={self.password.get_secret_value()} dbname={self.database}"
        )


class RedisSettings(BaseSettings):
    model_config = env_config("OBM_REDIS_")

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    password: SecretStr | None = None
    # Latest values expire so a dead feed shows as stale, not as frozen numbers.
    latest_ttl_s: int = 120
    alerts_stream_maxlen: int = 10_000
    key_prefix: str = "obm"
