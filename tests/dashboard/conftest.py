"""Helpers of the dashboard tests: unique names so tests sharing the session's Redis and
PostgreSQL never see each other's rows, and connections to seed them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis

from config import PostgresSettings, RedisSettings


@pytest.fixture
def new_symbol():
    """Makes symbols matching the schema's pattern ^[A-Z0-9]{2,30}$, unique per call."""

    def make(base: str = "T") -> str:
        return f"{base}{uuid.uuid4().hex[:10].upper()}USDT"

    return make


@pytest.fixture
def redis_prefix(redis_settings: RedisSettings) -> RedisSettings:
    """The session's Redis with a key prefix of this test's own."""
    return redis_settings.model_copy(update={"key_prefix": f"t{uuid.uuid4().hex[:8]}"})


@pytest.fixture
def redis_client(redis_settings: RedisSettings) -> Iterator[redis.Redis]:
    client = redis.Redis(host=redis_settings.host, port=redis_settings.port, db=redis_settings.db)
    yield client
    client.close()


@pytest.fixture
def pg_conn(pg_settings: PostgresSettings) -> Iterator[psycopg.Connection]:
    conn = psycopg.connect(pg_settings.conninfo())
    yield conn
    conn.close()
