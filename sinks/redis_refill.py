"""Refills an empty Redis from the topics, so a Redis restarted without its data needs no manual step.

Design: a throwaway consumer (its own random group, never commits) assigns every partition of a topic
at `offsets_for_times(now - window)`, i.e. the first record whose Kafka timestamp is within the
window, reads up to the high watermark seen at the start, and pushes the records through the sink's
normal write path. Windows: bars and alerts one hour (what Redis keeps of them), metrics and books
the latest-values TTL (older latest values would have expired anyway). A per-partition cap bounds
the work at very high rates (a symbol missing from the capped range comes back with its next record).
All writes are idempotent, so overlapping with the main consumer is harmless. The records are
judged like any others, and rejects are not written; their DLQ records are dropped here: every
record is the main consume loop's to report, once, in the transaction with its offsets.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Protocol, cast

from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from config import KafkaSettings
from config.clients import consumer_config
from schemas.redis_layout import BARS_KEEP_MS
from schemas.topics import Topic
from sinks.batching import SinkRecord, TopicNames, WriteResult, record_from_message

log = logging.getLogger(__name__)


class _Writer(Protocol):
    def write_records(self, records: list[SinkRecord]) -> WriteResult: ...


class RedisRefill:
    def __init__(self, kafka: KafkaSettings, latest_ttl_s: int, max_records_per_partition: int = 200_000,
                 chunk: int = 5_000, timeout_s: float = 120.0) -> None:  # fmt: skip
        self.kafka = kafka
        self.names = TopicNames(kafka.topic_prefix)
        self.windows_ms = {
            Topic.BARS: BARS_KEEP_MS,
            Topic.TRADE_BARS: BARS_KEEP_MS,
            Topic.ALERTS: BARS_KEEP_MS,
            Topic.PROCESSED: latest_ttl_s * 1000,
            Topic.RAW: latest_ttl_s * 1000,
            Topic.PAIRS: latest_ttl_s * 1000,
        }
        self.cap = max_records_per_partition
        self.chunk = chunk
        self.timeout_s = timeout_s
        self.last_count = 0

    def __call__(self, sink: _Writer) -> None:
        started = time.monotonic()
        consumer = Consumer({
            **consumer_config(self.kafka, f"obm-redis-refill-{uuid.uuid4().hex[:8]}"),
            "enable.auto.commit": False,
            "enable.partition.eof": False,
        })  # fmt: skip
        try:
            ends = self._start_positions(consumer)
            if not ends:
                log.info("refill: nothing within the windows")
                self.last_count = 0
                return
            consumer.assign([TopicPartition(t, p, start) for (t, p), (start, _) in ends.items()])
            todo = {tp: end for tp, (_, end) in ends.items()}
            count, pending = 0, []
            while todo and time.monotonic() - started < self.timeout_s:
                for msg in consumer.consume(num_messages=self.chunk, timeout=0.5):
                    if msg.error():
                        continue
                    rec = record_from_message(msg, self.names.kind(cast(str, msg.topic())))
                    end = todo.get((rec.topic_name, rec.partition))
                    if end is None or rec.offset >= end:
                        continue
                    pending.append(rec)
                    if rec.offset >= end - 1:
                        del todo[(rec.topic_name, rec.partition)]
                if todo:  # transaction markers occupy offsets but are never delivered: ask the position
                    for pos in consumer.position([TopicPartition(t, p) for t, p in todo]):
                        if pos.offset >= todo[(pos.topic, pos.partition)]:
                            del todo[(pos.topic, pos.partition)]
                if len(pending) >= self.chunk or (pending and not todo):
                    sink.write_records(pending)
                    count += len(pending)
                    pending = []
            if pending:
                sink.write_records(pending)
                count += len(pending)
            if todo:
                log.warning(
                    "refill: gave up after %.0fs with %d partitions unfinished", self.timeout_s, len(todo)
                )
            self.last_count = count
            log.info("refill: %d records replayed in %.1fs", count, time.monotonic() - started)
        finally:
            consumer.close()

    def _start_positions(self, consumer: Consumer) -> dict[tuple[str, int], tuple[int, int]]:
        """(topic, partition) -> (first offset to read, high watermark) for non-empty ranges."""
        now_ms = int(time.time() * 1000)
        wanted: list[TopicPartition] = []
        for topic, window in self.windows_ms.items():
            name = self.names.name(topic)
            md = consumer.list_topics(name, timeout=10).topics.get(name)
            if md is None or md.error is not None:
                continue
            wanted += [TopicPartition(name, p, now_ms - window) for p in md.partitions]
        if not wanted:
            return {}
        out: dict[tuple[str, int], tuple[int, int]] = {}
        for tp in consumer.offsets_for_times(wanted, timeout=10):
            if tp.offset < 0 or tp.offset == OFFSET_END:  # no record within the window
                continue
            _, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)
            start = max(tp.offset, high - self.cap)
            if start < high:
                out[(tp.topic, tp.partition)] = (start, high)
        return out
