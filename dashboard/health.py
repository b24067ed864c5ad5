"""Health of each data source, as the header shows it. Checks are cheap (a pipeline of two
Redis reads, one `SELECT 1`) because they run on every refresh of every page.

Redis answering is not enough to call live data healthy: if the Redis sink stopped writing, the
values freeze and then expire. So Redis is "degraded" when the sink's heartbeat is old.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dashboard.formatting import format_age
from dashboard.history_store import HistoryStore, HistoryUnavailable
from dashboard.live_store import LiveStore, LiveUnavailable

# The Redis sink writes its heartbeat with every batch, at least every few hundred ms under load.
HEARTBEAT_STALE_S = 10.0


class Status(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True)
class SourceStatus:
    name: str
    status: Status
    detail: str

    @property
    def up(self) -> bool:
        return self.status is not Status.DOWN


def check_redis(live: LiveStore, now_ms: int) -> SourceStatus:
    try:
        health = live.health()
    except LiveUnavailable as exc:
        return SourceStatus("Redis (live)", Status.DOWN, str(exc))
    if health.sink_heartbeat_ms is None:
        return SourceStatus(
            "Redis (live)", Status.DEGRADED, f"{health.latency_ms:.0f} ms; no heartbeat from the Redis sink"
        )
    age_s = max(0.0, (now_ms - health.sink_heartbeat_ms) / 1000.0)
    status = Status.DEGRADED if age_s > HEARTBEAT_STALE_S else Status.UP
    return SourceStatus(
        "Redis (live)",
        status,
        f"{health.latency_ms:.0f} ms, {health.symbol_count} symbols, sink wrote {format_age(age_s)} ago",
    )


def check_postgres(history: HistoryStore) -> SourceStatus:
    try:
        latency_ms = history.ping()
    except HistoryUnavailable as exc:
        return SourceStatus("PostgreSQL (history)", Status.DOWN, str(exc))
    return SourceStatus("PostgreSQL (history)", Status.UP, f"{latency_ms:.0f} ms")
