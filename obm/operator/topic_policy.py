"""How each topic of the contract is created, and how an operator's topic name maps to a schema.

One table drives both `obm topics create` and the Compose `topic-init` service (a test checks that
the `rpk topic create` lines in docker-compose.yml say the same), so the embedded stack and Compose
keep the same partitions, retention and cleanup policy.
"""

from __future__ import annotations

from dataclasses import dataclass

from config import KafkaSettings
from schemas.topics import Topic, topic_name

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
    Topic.DLQ: TopicPolicy(
        retention_ms=14 * DAY_MS,
        partitions=1,
        why="low volume; one partition keeps rejects in arrival order for reading",
    ),
}


def full_topic_name(name: str, settings: KafkaSettings) -> str:
    """A contract name (`orderbook.raw`) gets the configured prefix; any other name is literal.

    The prefix isolates test runs and side-by-side stacks on one broker (KafkaSettings.topic_prefix),
    so an operator keeps typing the names of the contract.
    """
    if name in {t.value for t in Topic} and settings.topic_prefix:
        return topic_name(Topic(name), settings.topic_prefix)
    return name


def contract_topic_of(name: str, settings: KafkaSettings | None = None) -> Topic | None:
    """The contract topic whose schema applies to `name`, or None for a foreign topic.

    A replay target such as `debug.orderbook.raw` still holds raw records, so a name that ends with
    a contract topic's name counts as that topic.
    """
    bare = name
    if settings is not None and settings.topic_prefix and name.startswith(settings.topic_prefix):
        bare = name[len(settings.topic_prefix) :]
    for topic in Topic:
        if bare == topic.value:
            return topic
    matches = [t for t in Topic if name.endswith("." + t.value) or name.endswith(t.value)]
    return max(matches, key=lambda t: len(t.value)) if matches else None


def policy_for(name: str, settings: KafkaSettings) -> TopicPolicy | None:
    topic = contract_topic_of(name, settings)
    return TOPIC_POLICIES[topic] if topic is not None else None
