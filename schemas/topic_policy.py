"""How each topic of the contract is kept: partitions, retention and cleanup policy.

Part of the contract because the retention is also the age bound of a conforming record
(schemas/conformance.py: a record older than its topic's retention is rejected). One table drives
`obm topics create` and the Compose `topic-init` service (a test checks that the `rpk topic create`
lines in docker-compose.yml say the same).
"""

from __future__ import annotations

from dataclasses import dataclass

from config import KafkaSettings
from schemas.topics import Topic

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True)
class TopicPolicy:
    """Creation parameters of one topic. partitions=None means KafkaSettings.partitions."""

    retention_ms: int
    cleanup_policy: str = "delete"
    partitions: int | None = None
    why: str = ""

    def configs(self) -> dict[str, str]:
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}

    def partition_count(self, settings: KafkaSettings) -> int:
        return self.partitions if self.partitions is not None else settings.partitions


TOPIC_POLICIES: dict[Topic, TopicPolicy] = {
    Topic.RAW: TopicPolicy(
        retention_ms=DAY_MS,
        why="the largest topic (one record per book update); a day is enough to replay an incident",
    ),
    Topic.PROCESSED: TopicPolicy(
        retention_ms=7 * DAY_MS,
        why="metrics are also stored in the database; a week allows re-sinking after an outage",
    ),
    Topic.BARS: TopicPolicy(retention_ms=30 * DAY_MS, why="small; kept as long as the alerts"),
    Topic.ALERTS: TopicPolicy(retention_ms=30 * DAY_MS, why="small and worth auditing for a month"),
    Topic.TRADES: TopicPolicy(
        retention_ms=DAY_MS,
        why="one record per trade, like orderbook.raw; a day is enough to replay an incident",
    ),
    Topic.TRADE_BARS: TopicPolicy(retention_ms=30 * DAY_MS, why="small; kept as long as the book bars"),
    Topic.PAIRS: TopicPolicy(
        retention_ms=30 * DAY_MS, why="one record per pair and second; kept as long as the bars"
    ),
    Topic.RULES: TopicPolicy(
        retention_ms=3650 * DAY_MS,
        cleanup_policy="compact",
        partitions=1,
        why="the latest record of each rule is the rule: compacted, never expired; one partition, in order",
    ),
    Topic.DLQ: TopicPolicy(
        retention_ms=14 * DAY_MS,
        partitions=1,
        why="low volume; one partition keeps rejects in arrival order for reading",
    ),
}


def partition_count(topic: Topic, settings: KafkaSettings) -> int:
    """Partitions `topic` is created with: KafkaSettings.topic_partitions for that topic when set,
    else its policy's (orderbook.dlq: 1), else KafkaSettings.partitions."""
    configured = settings.topic_partitions.get(topic.value)
    return configured if configured is not None else TOPIC_POLICIES[topic].partition_count(settings)


def age_bound_ms(topic: Topic, configured_ms: int) -> int:
    """The age beyond which a record of `topic` is rejected: `configured_ms`
    (ContractSettings.max_age_ms), or when it is 0 the topic's retention."""
    return configured_ms or TOPIC_POLICIES[topic].retention_ms
