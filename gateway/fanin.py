"""Reading the topics: one consumer per gateway instance, assigned every partition of the four
topics at their end offsets (a gateway is a fan-out of what happens now, not a durable consumer:
it joins no group, commits nothing, and a restarted gateway starts from the present; what a
client missed it gets as the snapshot when it subscribes).

Every record is judged against its topic's contract (schemas/conformance.py through the sinks'
SinkContract and their generated fast check, which settles a conforming record in a fraction of
the full validator's time); one that breaks it is skipped and counted (the sinks have already
sent it to orderbook.dlq with the reason). Blocking: the server calls `poll` in a worker thread, so decoding
and judging happen off the event loop."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition

from config import KafkaSettings
from config.clients import consumer_config
from gateway.protocol import CHANNEL_TOPICS, TOPIC_CHANNELS, Channel
from schemas.topics import record_key, topic_name
from sinks.decoding.contract import RejectedRecord, RejectKind, SinkContract
from sinks.decoding.records import conforming

# Errors of a partition without a leader yet (librdkafka does not call them retriable here).
_MOVING = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
}


@dataclass(frozen=True)
class Incoming:
    """One conforming record, ready to relay."""

    channel: Channel
    key: str
    ts_ms: int  # the Kafka record's timestamp
    data: dict[str, Any]


@dataclass
class PollResult:
    records: list[Incoming]
    skipped: list[tuple[Channel, str]]  # (channel, RejectKind value) of each skipped record


def top_levels(book: dict[str, Any], levels: int) -> dict[str, Any]:
    """An orderbook.raw record cut to its best `levels` per side (the book channel's depth)."""
    cut = dict(book)
    for side in ("bid_prices", "bid_sizes", "ask_prices", "ask_sizes"):
        cut[side] = book[side][:levels]
    return cut


class KafkaFanIn:
    def __init__(self, kafka: KafkaSettings, group_prefix: str, book_levels: int,
                 contract: SinkContract | None = None) -> None:  # fmt: skip
        self.kafka = kafka
        self.book_levels = book_levels
        self.contract = contract or SinkContract.from_settings()
        self.group_id = f"{group_prefix}-{uuid.uuid4().hex[:12]}"
        self.consumer = Consumer(consumer_config(kafka, self.group_id, {"auto.offset.reset": "latest"}))
        self._channel_of = {topic_name(t, kafka.topic_prefix): c for t, c in TOPIC_CHANNELS.items()}

    def assign_at_end(self, timeout_s: float = 30.0) -> None:
        """Assign every partition at its current end offset, resolved now: every record written
        after this returns is relayed (what `ready` in /healthz means)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.consumer.assign(self._end_offsets(timeout_s))
                return
            except KafkaException as exc:
                # A topic just created, or a partition whose leader moves: its offsets are a moment away.
                err = exc.args[0]
                if not (err.retriable() or err.code() in _MOVING) or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _end_offsets(self, timeout_s: float) -> list[TopicPartition]:
        parts: list[TopicPartition] = []
        for channel in Channel:
            name = topic_name(CHANNEL_TOPICS[channel], self.kafka.topic_prefix)
            meta = self.consumer.list_topics(name, timeout=timeout_s).topics[name]
            if meta.error is not None:
                raise KafkaException(meta.error)
            for p in sorted(meta.partitions):
                _low, high = self.consumer.get_watermark_offsets(TopicPartition(name, p), timeout=timeout_s)
                parts.append(TopicPartition(name, p, high if high >= 0 else OFFSET_END))
        return parts

    def poll(self, max_records: int = 500, timeout_s: float = 0.2) -> PollResult:
        result = PollResult([], [])
        now_ms = self.contract.clock()
        judges = {c: self.contract.at(c.topic, now_ms) for c in Channel}
        for msg in self._consume(max_records, timeout_s):
            if msg.error():
                continue  # partition EOF and transient broker errors: librdkafka retries
            channel = self._channel_of[str(msg.topic())]
            try:
                data = orjson.loads(msg.value() or b"")
            except orjson.JSONDecodeError:
                result.skipped.append((channel, RejectKind.NOT_JSON.value))
                continue
            try:
                conforming(data, judges[channel])  # the sinks' fast check, then nonconformity
            except RejectedRecord as rejected:
                result.skipped.append((channel, rejected.kind.value))
                continue
            if channel is Channel.BOOK:
                data = top_levels(data, self.book_levels)
            _kind, ts_ms = msg.timestamp()
            result.records.append(
                Incoming(channel, record_key(data["exchange"], data["symbol"]), ts_ms, data)
            )
        return result

    def _consume(self, max_records: int, timeout_s: float) -> list[Any]:
        """What is there now, up to `max_records`; when nothing is, the first record to come within
        `timeout_s` and what came with it. (consume(n, timeout) alone waits for n records or the
        whole timeout: at a low rate every record would wait for the timeout.)"""
        msgs = self.consumer.consume(max_records, timeout=0)
        if not msgs:
            msgs = self.consumer.consume(1, timeout=timeout_s)
            if msgs:
                msgs += self.consumer.consume(max_records - 1, timeout=0)
        return msgs

    def close(self) -> None:
        self.consumer.close()
