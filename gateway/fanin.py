"""Reading the topics: one consumer per gateway instance, assigned every partition of the four
topics at their end offsets (a gateway is a fan-out of what happens now, not a durable consumer:
it joins no group, commits nothing, and a restarted gateway starts from the present; what a
client missed it gets as the snapshot when it subscribes).

It reads records of open transactions too (LATEST_VALUE_ISOLATION_LEVEL, as the Redis sink that
serves its snapshots): the Flink jobs write exactly-once, so a committed-only reader would see each
metric, bar and alert only at the job's next checkpoint (p50 ~1 s at the 2 s default), and the
snapshot from Redis would be newer than the updates that follow it. The jobs are deterministic
per key, so a record of a transaction that is later aborted comes again, the same, after the job's
recovery: for book, metrics and bars that is the same latest value twice; alerts, never conflated,
are relayed once per alert id (the ids of the last ALERT_IDS_KEPT alerts are remembered).

Every record is judged against its topic's contract (schemas/conformance.py through the sinks'
SinkContract and their generated fast check, which settles a conforming record in a fraction of
the full validator's time); one that breaks it is skipped and counted (the sinks have already
sent it to orderbook.dlq with the reason). As in the sinks' column path, the rules beyond the
schema (event time bounds, equal-length arrays) are checked once per poll and channel over the
records the fast check passed (TopicContract.columns_conform); when that fails, each of them is
judged on its own, so exactly the records the contract accepts are relayed. The server takes what
is queued with a non-blocking `poll` on its event loop and waits for new records with a blocking
one in a worker thread."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from confluent_kafka import OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition

from config import KafkaSettings
from config.clients import LATEST_VALUE_ISOLATION_LEVEL, consumer_config
from gateway.protocol import CHANNEL_TOPICS, TOPIC_CHANNELS, Channel
from schemas.topics import record_key, topic_name
from sinks.decoding.contract import RejectedRecord, RejectKind, SinkContract, TopicContract
from sinks.decoding.fast_check import Check
from sinks.decoding.records import FAST_CHECKS, conforming

# Alert ids remembered to relay each alert once (an aborted transaction's alert comes again after
# the job's recovery, within a checkpoint timeout: far fewer alerts than this in that time).
ALERT_IDS_KEPT = 100_000
# The kind counted in obm_gateway_records_skipped_total for an alert relayed already.
DUPLICATE_ALERT = "duplicate_alert"

# Errors of a partition without a leader yet (librdkafka does not call them retriable here).
_MOVING = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
}


class Incoming(NamedTuple):
    """One conforming record, ready to relay (a tuple: built for every record, cheaply)."""

    channel: Channel
    key: str
    ts_ms: int  # the Kafka record's timestamp
    data: dict[str, Any]


@dataclass
class PollResult:
    records: list[Incoming]
    skipped: list[tuple[Channel, str]]  # (channel, RejectKind value) of each skipped record
    # Wall clock (s) when librdkafka handed the records over, and whether the poll had to wait for
    # them (nothing was queued when it began): then the gateway was idle, and the records' age at
    # that moment is their way in (producer, broker, fetch), none of it the gateway's backlog.
    consumed_s: float = 0.0
    waited: bool = False
    consumed: int = 0  # messages the Kafka client handed over (records, skipped ones, errors)


def top_levels(book: dict[str, Any], levels: int) -> dict[str, Any]:
    """An orderbook.raw record cut to its best `levels` per side (the book channel's depth)."""
    cut = dict(book)
    for side in ("bid_prices", "bid_sizes", "ask_prices", "ask_sizes"):
        cut[side] = book[side][:levels]
    return cut


# The sinks' generated "certainly valid" check of each channel's topic (sinks.decoding.records).
_FAST_CHECKS: dict[Channel, Check | None] = {c: FAST_CHECKS[c.topic] for c in Channel}


class KafkaFanIn:
    def __init__(self, kafka: KafkaSettings, group_prefix: str, book_levels: int,
                 contract: SinkContract | None = None) -> None:  # fmt: skip
        self.kafka = kafka
        self.book_levels = book_levels
        self.contract = contract or SinkContract.from_settings()
        self.group_id = f"{group_prefix}-{uuid.uuid4().hex[:12]}"
        self.consumer = Consumer(
            consumer_config(
                kafka,
                self.group_id,
                {"auto.offset.reset": "latest", "isolation.level": LATEST_VALUE_ISOLATION_LEVEL},
            )
        )
        self._alert_ids: dict[str, None] = {}  # insertion-ordered: the oldest is dropped first
        self._channel_of: dict[str | None, Channel] = {
            topic_name(t, kafka.topic_prefix): c for t, c in TOPIC_CHANNELS.items()
        }

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

    def poll(self, max_records: int = 500, timeout_s: float = 0.2, wait: bool = True) -> PollResult:
        """Up to `max_records` conforming records; with `wait`, waits up to `timeout_s` for a
        first one when none is queued (blocking: call it in a worker thread), else returns at once."""
        if wait:
            msgs, waited = self._consume(max_records, timeout_s)
        else:
            msgs, waited = self.consumer.consume(max_records, timeout=0), False
        result = PollResult([], [], time.time(), waited, len(msgs))
        if not msgs:
            return result
        now_ms = self.contract.clock()
        judges = {c: self.contract.at(c.topic, now_ms) for c in Channel}
        channel_of, loads, fast_checks = self._channel_of, orjson.loads, _FAST_CHECKS
        # (channel, ts, record) of each record that conforms or passed its channel's fast check;
        # the positions of the latter per channel, for the rules beyond the schema below.
        kept: list[tuple[Channel, int, dict[str, Any]]] = []
        fast_passed: dict[Channel, list[int]] = {}
        for msg in msgs:
            if msg.error():
                continue  # partition EOF and transient broker errors: librdkafka retries
            channel = channel_of[msg.topic()]
            try:
                data = loads(msg.value() or b"")
            except orjson.JSONDecodeError:
                result.skipped.append((channel, RejectKind.NOT_JSON.value))
                continue
            fast = fast_checks[channel]
            if fast is not None and fast(data):
                fast_passed.setdefault(channel, []).append(len(kept))
            else:
                try:
                    conforming(data, judges[channel])  # the exact judgment, with the reason
                except RejectedRecord as rejected:
                    result.skipped.append((channel, rejected.kind.value))
                    continue
            kept.append((channel, msg.timestamp()[1], data))
        dropped = self._beyond_schema(kept, fast_passed, judges, result.skipped)
        levels = self.book_levels
        for i, (channel, ts_ms, data) in enumerate(kept):
            if i in dropped:
                continue
            if channel is Channel.BOOK:
                data = top_levels(data, levels)
            elif channel is Channel.ALERTS and not self._first_time(data["alert_id"]):
                result.skipped.append((channel, DUPLICATE_ALERT))
                continue
            result.records.append(
                Incoming(channel, record_key(data["exchange"], data["symbol"]), ts_ms, data)
            )
        return result

    def _first_time(self, alert_id: str) -> bool:
        """Whether this alert id is new (then it is remembered, the oldest forgotten past
        ALERT_IDS_KEPT)."""
        ids = self._alert_ids
        if alert_id in ids:
            return False
        ids[alert_id] = None
        if len(ids) > ALERT_IDS_KEPT:
            del ids[next(iter(ids))]
        return True

    @staticmethod
    def _beyond_schema(kept: list[tuple[Channel, int, dict[str, Any]]], fast_passed: dict[Channel, list[int]],
                       judges: dict[Channel, TopicContract], skipped: list[tuple[Channel, str]]) -> set[int]:  # fmt: skip
        """The positions in `kept` of fast-checked records that break a rule beyond the schema:
        checked over each channel's column of them at once, and record by record only when the
        column check fails (then `conforming` gives each reject its kind)."""
        dropped: set[int] = set()
        for channel, positions in fast_passed.items():
            judge = judges[channel]
            if judge.columns_conform(lambda name: [kept[i][2][name] for i in positions]):  # noqa: B023
                continue
            for i in positions:
                try:
                    conforming(kept[i][2], judge)
                except RejectedRecord as rejected:
                    skipped.append((channel, rejected.kind.value))
                    dropped.add(i)
        return dropped

    def _consume(self, max_records: int, timeout_s: float) -> tuple[list[Any], bool]:
        """What is there now, up to `max_records`; when nothing is, the first record to come within
        `timeout_s` and what came with it (consume(n, timeout) alone waits for n records or the
        whole timeout: at a low rate every record would wait for the timeout). And whether it had
        to wait."""
        msgs = self.consumer.consume(max_records, timeout=0)
        if msgs:
            return msgs, False
        msgs = self.consumer.consume(1, timeout=timeout_s)
        if msgs:
            msgs += self.consumer.consume(max_records - 1, timeout=0)
        return msgs, True

    def close(self) -> None:
        self.consumer.close()
