"""Live values from Redis, as the Redis sink writes them (layout: schemas/redis_layout.py).

Reads are batched (one MGET or pipeline per page section) because a page refreshes every second
for every open browser. Every Redis failure surfaces as `LiveUnavailable`, so a page can say
"Redis is down" and carry on with what the database has.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis

from config import RedisSettings
from config.clients import redis_client
from schemas import split_record_key
from schemas.redis_layout import ALERTS_STREAM_FIELD, RedisLayout


class LiveUnavailable(RuntimeError):
    """Redis cannot be reached or answered with an error."""


@dataclass(frozen=True)
class LiveHealth:
    latency_ms: float
    sink_heartbeat_ms: int | None
    symbol_count: int


def _loads(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class LiveStore:
    """Read-only view of the Redis layout. Short socket timeouts: a hung Redis must cost a page
    one second, not thirty."""

    def __init__(self, settings: RedisSettings, client: redis.Redis | None = None, timeout_s: float = 1.0):
        self.keys = RedisLayout.from_settings(settings)
        self.client = client or redis_client(settings, timeout_s, retry_on_timeout=False)

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except redis.RedisError as exc:
            raise LiveUnavailable(f"Redis: {exc}") from exc

    def health(self) -> LiveHealth:
        started = time.perf_counter()
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self.keys.heartbeat())
        pipe.scard(self.keys.symbols())
        heartbeat, count = self._call(pipe.execute)
        latency_ms = (time.perf_counter() - started) * 1000.0
        return LiveHealth(latency_ms, int(heartbeat) if heartbeat else None, int(count))

    def symbols(self) -> list[str]:
        """Every `exchange:symbol` the sink has seen, sorted."""
        members = self._call(self.client.smembers, self.keys.symbols())
        return sorted(m.decode() if isinstance(m, bytes) else m for m in members)

    def latest_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """Latest orderbook.processed record per `exchange:symbol`; None where it expired."""
        if not keys:
            return {}
        values = self._call(self.client.mget, [self.keys.latest(*split_record_key(k)) for k in keys])
        return {k: _loads(v) for k, v in zip(keys, values, strict=True)}

    def last_alerts_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        if not keys:
            return {}
        values = self._call(self.client.mget, [self.keys.alerts_last(*split_record_key(k)) for k in keys])
        return {k: _loads(v) for k, v in zip(keys, values, strict=True)}

    def book(self, key: str) -> dict[str, Any] | None:
        """The latest orderbook.raw record (the levels) of one `exchange:symbol`."""
        return _loads(self._call(self.client.get, self.keys.book(*split_record_key(key))))

    def bars(
        self, key: str, interval: str, since_ms: int, until_ms: int | None = None
    ) -> list[dict[str, Any]]:
        """Bars with window_start in [since_ms, until_ms), oldest first (the sink keeps an hour)."""
        upper = f"({until_ms}" if until_ms is not None else "+inf"
        members = self._call(
            self.client.zrangebyscore, self.keys.bars(interval, *split_record_key(key)), since_ms, upper
        )
        return [bar for bar in (_loads(m) for m in members) if bar is not None]

    def recent_alerts(self, count: int) -> list[dict[str, Any]]:
        """The newest `count` alerts of the capped stream, newest first."""
        entries = self._call(self.client.xrevrange, self.keys.alerts_stream(), "+", "-", count)
        alerts = []
        for _entry_id, fields in entries:
            alert = _loads(fields.get(ALERTS_STREAM_FIELD.encode()) or fields.get(ALERTS_STREAM_FIELD))
            if alert is not None:
                alerts.append(alert)
        return alerts

    def close(self) -> None:
        self.client.close()
