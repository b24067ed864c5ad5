"""Reading a slice of a topic without joining a consumer group.

`tail` and `replay` read by explicit partition assignment: nothing is committed, no running sink's
group is disturbed, and a bounded slice ends where the log ended when the command started (so a
replay into the topic it reads cannot chase its own output).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Generator
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from config import KafkaSettings
from config.clients import client_config as client_config  # re-exported for the operator commands
from config.clients import consumer_config
from obm.operator.positions import Position, offset_for

METADATA_TIMEOUT_S = 10.0


class TopicNotFound(LookupError):
    pass


def slice_consumer(settings: KafkaSettings) -> Consumer:
    """A consumer that never commits; its group id is unique and only satisfies librdkafka. It
    reads committed records only (config.clients.ISOLATION_LEVEL), like every consumer."""
    return Consumer(
        consumer_config(
            settings,
            f"obm-operator-{uuid.uuid4().hex[:12]}",
            {
                "enable.auto.offset.store": False,
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
            },
        )
    )


def partitions_of(consumer: Consumer, topic: str) -> list[int]:
    md = consumer.list_topics(topic, timeout=METADATA_TIMEOUT_S)
    meta = md.topics.get(topic)
    if meta is None or meta.error is not None or not meta.partitions:
        raise TopicNotFound(f"topic {topic!r} does not exist on {consumer_bootstrap(md)}")
    return sorted(meta.partitions)


def consumer_bootstrap(md: object) -> str:
    brokers = getattr(md, "brokers", {}) or {}
    return ", ".join(f"{b.host}:{b.port}" for b in brokers.values()) or "the broker"


# Right after a topic is created (or a broker restarted) its partitions briefly have no leader.
_TRANSIENT = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._TRANSPORT,
}


def watermarks(consumer: Consumer, topic: str, partition: int, patience_s: float = 10.0) -> tuple[int, int]:
    """(low, high) of a partition, waiting out a leader election instead of failing on it."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=METADATA_TIMEOUT_S
            )
            return low, high
        except KafkaException as exc:
            if exc.args[0].code() not in _TRANSIENT or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def resolve_offsets(
    consumer: Consumer, topic: str, partitions: list[int], position: Position
) -> dict[int, int]:
    """Offset per partition for a position, asking the broker for watermarks and time lookups."""
    marks = {p: watermarks(consumer, topic, p) for p in partitions}
    by_time: dict[int, int] = {}
    if position.kind == "time":
        found = consumer.offsets_for_times(
            [TopicPartition(topic, p, position.value) for p in partitions], timeout=METADATA_TIMEOUT_S
        )
        by_time = {tp.partition: tp.offset for tp in found}
    return {p: offset_for(position, marks[p][0], marks[p][1], by_time.get(p)) for p in partitions}


@dataclass
class TopicSlice:
    """[start, end) per partition; end None means follow the topic until the caller stops."""

    topic: str
    start: dict[int, int]
    end: dict[int, int] | None

    def size(self) -> int | None:
        if self.end is None:
            return None
        return sum(max(0, self.end[p] - self.start[p]) for p in self.start)

    def pending_partitions(self) -> set[int]:
        if self.end is None:
            return set(self.start)
        return {p for p in self.start if self.start[p] < self.end[p]}


def plan_slice(
    consumer: Consumer,
    topic: str,
    start: Position,
    end: Position | None,
    partitions: list[int] | None = None,
) -> TopicSlice:
    available = partitions_of(consumer, topic)
    chosen = available if not partitions else [p for p in partitions if p in available]
    if partitions and len(chosen) != len(set(partitions)):
        missing = sorted(set(partitions) - set(available))
        raise TopicNotFound(f"topic {topic!r} has no partition {missing} (it has {available})")
    first = resolve_offsets(consumer, topic, chosen, start)
    last = resolve_offsets(consumer, topic, chosen, end) if end is not None else None
    return TopicSlice(topic, first, last)


def read_slice(
    consumer: Consumer, piece: TopicSlice, poll_timeout_s: float = 0.5
) -> Generator[Message, None, None]:
    """Yield the records of the slice in arrival order (ordered within each partition).

    A bounded slice ends when every partition reached its end offset; an end offset can sit on a
    transaction marker that is never delivered, hence the partition-EOF events and position checks.
    """
    pending = piece.pending_partitions()
    if not pending:
        return
    consumer.assign([TopicPartition(piece.topic, p, piece.start[p]) for p in sorted(pending)])
    try:
        while pending:
            msg = consumer.poll(poll_timeout_s)
            if msg is None:
                if piece.end is not None:
                    pending -= _partitions_at_end(consumer, piece, pending)
                continue
            err = msg.error()
            part, off = message_position(msg)
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    if piece.end is not None and off >= piece.end[part]:
                        pending.discard(part)
                    continue
                raise KafkaException(err)
            if piece.end is not None:
                if off >= piece.end[part]:
                    pending.discard(part)
                    consumer.pause([TopicPartition(piece.topic, part)])
                    continue
                if off + 1 >= piece.end[part]:
                    pending.discard(part)
            yield msg
    finally:
        consumer.unassign()


def message_position(msg: Message) -> tuple[int, int]:
    """(partition, offset) of a consumed record or partition event, which always carry both."""
    part, off = msg.partition(), msg.offset()
    return (part if part is not None else -1, off if off is not None else -1)


def _partitions_at_end(consumer: Consumer, piece: TopicSlice, pending: set[int]) -> set[int]:
    assert piece.end is not None
    positions = consumer.position([TopicPartition(piece.topic, p) for p in pending])
    return {tp.partition for tp in positions if tp.offset >= 0 and tp.offset >= piece.end[tp.partition]}
