"""Helpers of the dashboard tests: unique names so tests sharing the session's Redis and
PostgreSQL never see each other's rows, and connections to seed them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import redis

from bench import dashboard_seed as seed
from config import PostgresSettings, RedisSettings, clients
from tests.dashboard.processed_records import ALERT_CONTEXT, full_processed, processed_history


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
    client = clients.redis_client(redis_settings, timeout_s=10)
    yield client
    client.close()


@pytest.fixture
def pg_conn(pg_settings: PostgresSettings) -> Iterator[psycopg.Connection]:
    conn = psycopg.connect(pg_settings.conninfo())
    yield conn
    conn.close()


@pytest.fixture
def market(pg_settings, redis_prefix, new_symbol):
    """Two symbols with 20 minutes of history in PostgreSQL (bars every second, book snapshots and
    full metrics records every 5 s) and live values in Redis; the first has a high alert 30 s ago
    with a context (ALERT_CONTEXT), the second a low one 10 min ago without."""
    now = int(time.time()) * 1000
    seconds = 1_200
    tapes = [
        seed.make_tape(new_symbol(), now - seconds * 1000, seconds, p, seed=i)
        for i, p in enumerate((61_000.0, 150.0))
    ]
    books = [seed.book_at(t, seconds - 1) for t in tapes]
    alerts = [{**seed.alert(tapes[0], seconds - 30, "high"), "context": ALERT_CONTEXT},  # why it fired
              seed.alert(tapes[1], seconds - 600, "low")]  # fmt: skip
    bars = [b for t in tapes for b in seed.bars_of(t)]
    metrics = [
        full_processed(b, full_processed(seed.book_at(t, seconds - 2)))
        for b, t in zip(books, tapes, strict=True)
    ]
    history = [r for t in tapes for r in processed_history(t, seconds - 1, 5)]
    seed.store_postgres(pg_settings, bars=bars, alerts=alerts, metrics=[*history, *metrics],
                        books=[seed.book_at(t, i) for t in tapes for i in range(0, seconds, 5)])  # fmt: skip
    seed.store_redis(redis_prefix, metrics=metrics, books=books, bars=bars, alerts=alerts)
    return {"tapes": tapes, "metrics": metrics, "alerts": alerts, "history": history}
