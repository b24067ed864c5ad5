"""Client configurations from the settings classes: every Kafka client (consumer, producer, admin)
and every Redis client of the project starts here, so an address, a credential or a policy that all
clients share is added in one place instead of in each hand-built dict.

Kafka configurations are librdkafka property dicts (confluent-kafka); a caller adds what is its
own (client.id, linger.ms, offsets) through `overrides`, which win over the defaults here. This
module is not imported by `config/__init__.py`: importing the settings must not import redis.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis

from config.settings import KafkaSettings, RedisSettings

KafkaConfig = dict[str, Any]

# What every consumer of the project reads, the Flink jobs' sources included: committed records only.
# The Flink jobs (exactly-once sinks) and the sinks' DLQ write in Kafka transactions; a reader at
# read_uncommitted would also see the records of transactions that are open or were aborted (after
# a TaskManager failure: the same records again).
ISOLATION_LEVEL = "read_committed"

# The one exception: a consumer that keeps only the latest value per key and deduplicates alerts by
# id (the Redis sink) reads records of open transactions too. The Flink jobs are deterministic per
# key, so a record of a transaction that is later aborted comes again, the same, after the job's
# recovery: writing the same latest value twice changes nothing, and an alert id is stored once.
# Reading before the commit spares the live values the checkpoint interval that exactly-once adds
# (p50 ~1.1 s at 2 s checkpoints, docs/benchmarks.md); the history (PostgreSQL), the jobs and every
# other reader still see committed records only.
LATEST_VALUE_ISOLATION_LEVEL = "read_uncommitted"


def client_config(kafka: KafkaSettings) -> KafkaConfig:
    """What every Kafka client needs (an AdminClient needs nothing else): where the brokers are."""
    return {"bootstrap.servers": kafka.bootstrap_servers}


def consumer_config(
    kafka: KafkaSettings, group_id: str, overrides: Mapping[str, Any] | None = None
) -> KafkaConfig:
    """A consumer in `group_id`. Every consumer of the project commits offsets itself (after the
    write they cover) or never, not on a timer that could commit records not yet written; and
    reads only committed records (ISOLATION_LEVEL)."""
    return {
        **client_config(kafka),
        "group.id": group_id,
        "enable.auto.commit": False,
        "isolation.level": ISOLATION_LEVEL,
        **(overrides or {}),
    }


def producer_config(kafka: KafkaSettings, overrides: Mapping[str, Any] | None = None) -> KafkaConfig:
    """A producer, idempotent: a send retried after a broker hiccup is written once and in order
    (implies acks=all)."""
    return {**client_config(kafka), "enable.idempotence": True, **(overrides or {})}


def redis_client(
    settings: RedisSettings, timeout_s: float, connect_timeout_s: float | None = None, **options: Any
) -> redis.Redis:
    """A client of the configured Redis. The timeout is required: redis-py's default is to wait
    for ever, and a hung Redis must cost each caller a bounded time (the dashboard one second, the
    sink a few). `connect_timeout_s` defaults to `timeout_s`; `options` go to redis.Redis as given."""
    return redis.Redis(
        host=settings.host,
        port=settings.port,
        db=settings.db,
        password=settings.password.get_secret_value() if settings.password else None,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s if connect_timeout_s is None else connect_timeout_s,
        **options,
    )
