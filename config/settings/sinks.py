"""The sinks that write the topics into PostgreSQL and Redis."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from config.settings.base import env_config


class SinkSettings(BaseSettings):
    """The sinks: orderbook.processed/bars/alerts/dlq -> PostgreSQL and Redis."""

    model_config = env_config("OBM_SINK_")

    postgres_group: str = "obm-sink-postgres"
    redis_group: str = "obm-sink-redis"
    batch_max_records: int = 5_000
    # How long the broker waits for a sink instance's heartbeats (librdkafka sends them from its own
    # thread every 3 s) before it gives the instance's partitions to another, or to the same sink
    # restarted after a crash. librdkafka's default, 45 s, held a restarted sink's partitions
    # unread for ~45 s; the broker's minimum is 6 s.
    session_timeout_ms: int = Field(default=10_000, ge=6_000, le=300_000)
    batch_max_ms: int = 200
    postgres_metrics_port: int = 9110
    redis_metrics_port: int = 9111
    # Instances of the database sink in one consumer group (the embedded stack starts them): the
    # group shares the partitions out, so each exchange:symbol is written by one instance, in order.
    postgres_instances: int = Field(default=1, ge=1)
    # Instances of the Redis sink, the same way.
    redis_instances: int = Field(default=1, ge=1)

    def metrics_port(self, kind: str, instance: int = 0) -> int:
        """The /metrics port of instance `instance` (0-based) of a sink: the kind's port, then
        every second port after it, so the two kinds' instances never collide."""
        base = self.postgres_metrics_port if kind == "postgres" else self.redis_metrics_port
        return base + 2 * instance
