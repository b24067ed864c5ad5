"""The broker's settings: its address, topic partitions and transaction limits."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from config.settings.base import env_config


class KafkaSettings(BaseSettings):
    """The broker (Apache Kafka in KRaft mode locally, Redpanda in Compose)."""

    model_config = env_config("OBM_KAFKA_")

    bootstrap_servers: str = "127.0.0.1:9092"
    # Embedded broker only: the KRaft controller listener.
    controller_port: int = 9093
    partitions: int = 3
    # Partitions of single topics by contract name, e.g. {"orderbook.raw": 24}; the others get
    # `partitions` (orderbook.dlq: 1). A job or sink group reads with at most one task or instance
    # per partition, so this bounds its useful parallelism (docs/scaling.md).
    topic_partitions: dict[str, int] = Field(default_factory=dict)
    replication_factor: int = 1
    # Topic names are part of the contract (schemas/topics.py); a prefix lets tests isolate runs.
    topic_prefix: str = ""
    # The broker's transaction.max.timeout.ms (the embedded broker is started with it; Kafka's and
    # Redpanda's default): no transactional producer may ask for a longer transaction.timeout.ms.
    transaction_max_timeout_ms: int = 900_000

    @field_validator("topic_partitions")
    @classmethod
    def _known_topics(cls, value: dict[str, int]) -> dict[str, int]:
        from schemas.topics import Topic  # schemas imports config: only here, at validation

        unknown = sorted(set(value) - {t.value for t in Topic})
        if unknown or any(n < 1 for n in value.values()):
            raise ValueError(f"topic_partitions: unknown topics {unknown} or a count below 1: {value}")
        return value

    @property
    def port(self) -> int:
        return int(self.bootstrap_servers.rsplit(":", 1)[1].split(",")[0])

    @property
    def host(self) -> str:
        return self.bootstrap_servers.split(",")[0].rsplit(":", 1)[0]
