"""How an operator's topic name maps to a contract topic and its policy. The policies themselves
(partitions, retention, cleanup) are part of the contract: schemas/topic_policy.py, re-exported here
for `obm topics` and the stack's broker."""

from __future__ import annotations

from config import KafkaSettings
from schemas.topic_policy import DAY_MS, HOUR_MS, TOPIC_POLICIES, TopicPolicy
from schemas.topics import Topic, topic_name

__all__ = [
    "DAY_MS",
    "HOUR_MS",
    "TOPIC_POLICIES",
    "TopicPolicy",
    "contract_topic_of",
    "full_topic_name",
    "policy_for",
]


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
