"""Moving a consumer group's committed offsets to a point in time, so a sink reprocesses from there.

Kafka only lets offsets of a group change while the group has no members, so the sink must be
stopped first (`docker compose stop sink-postgres`, or `obm down` on the embedded stack); the sinks
write idempotently (ON CONFLICT DO NOTHING), so reprocessing a range twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import ConsumerGroupState, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from config import KafkaSettings
from obm.operator.positions import Position
from obm.operator.topic_reader import (
    METADATA_TIMEOUT_S,
    client_config,
    partitions_of,
    resolve_offsets,
    slice_consumer,
)

IDLE_STATES = {ConsumerGroupState.EMPTY, ConsumerGroupState.DEAD, ConsumerGroupState.UNKNOWN}


class GroupBusy(RuntimeError):
    """The group still has members; Kafka would refuse the offset change."""


@dataclass(frozen=True)
class OffsetMove:
    topic: str
    partition: int
    before: int | None  # None: the group had no committed offset there
    after: int


def group_state(admin: AdminClient, group: str) -> tuple[ConsumerGroupState, int]:
    desc = admin.describe_consumer_groups([group])[group].result(timeout=METADATA_TIMEOUT_S)
    return desc.state, len(desc.members)


def committed_offsets(admin: AdminClient, group: str) -> dict[tuple[str, int], int]:
    fut = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    result = fut.result(timeout=METADATA_TIMEOUT_S)
    return {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions if tp.offset >= 0}


def plan_rewind(settings: KafkaSettings, group: str, target: Position, topics: list[str]) -> list[OffsetMove]:
    """The moves that bring `group` to `target` on `topics` (default: the topics it has offsets for)."""
    admin = AdminClient(client_config(settings))
    state, members = group_state(admin, group)
    if state not in IDLE_STATES:
        raise GroupBusy(
            f"consumer group {group!r} is {state.name.lower()} with {members} member(s): "
            "stop its consumer (the sink) first, then rewind"
        )
    before = committed_offsets(admin, group)
    wanted = topics or sorted({t for t, _ in before})
    if not wanted:
        raise LookupError(f"consumer group {group!r} has no committed offsets: name the topics with --topic")
    consumer = slice_consumer(settings)
    moves: list[OffsetMove] = []
    try:
        for topic in wanted:
            parts = partitions_of(consumer, topic)
            for part, offset in sorted(resolve_offsets(consumer, topic, parts, target).items()):
                moves.append(OffsetMove(topic, part, before.get((topic, part)), offset))
    finally:
        consumer.close()
    return moves


def apply_rewind(settings: KafkaSettings, group: str, moves: list[OffsetMove]) -> None:
    admin = AdminClient(client_config(settings))
    tps = [TopicPartition(m.topic, m.partition, m.after) for m in moves]
    fut = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)])[group]
    try:
        result = fut.result(timeout=METADATA_TIMEOUT_S)
    except KafkaException as exc:
        if "UNKNOWN_MEMBER_ID" in str(exc) or "REBALANCE" in str(exc):
            raise GroupBusy(f"consumer group {group!r} became active during the rewind: {exc}") from None
        raise
    failed = [tp for tp in result.topic_partitions if tp.error is not None]
    if failed:
        raise KafkaException(failed[0].error)
