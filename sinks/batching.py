"""The sink contract, after Quix Streams' BatchingSink (sinks/base/sink.py there): a sink is a
subclass of `BatchingSink` that implements `write_prepared` and overrides the hooks it needs; the
shared consume loop (sinks.consume_loop) does the batching, the retries and the offset commits.
Keeping Kafka out of the sinks lets their logic be tested with plain records and keeps the one
delicate part, "commit only what was stored", in one place."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, ClassVar, Generic, TypeVar

from confluent_kafka import Message

from schemas.dlq import dlq_record
from schemas.topics import Topic, topic_name
from sinks.decoding.contract import RejectedRecord, RejectKind


@dataclass(slots=True)
class SinkRecord:
    """One Kafka record as the sinks see it: its topic kind, its position and its raw bytes."""

    topic: Topic
    topic_name: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int = 0

    @property
    def origin(self) -> str:
        """Where the record came from, as DLQ records name it: topic[partition]@offset."""
        return f"{self.topic_name}[{self.partition}]@{self.offset}"

    @property
    def key_text(self) -> str | None:
        return self.key.decode("utf-8", errors="replace") if self.key is not None else None


class BatchPart:
    """The records of one topic in a batch. Built from Kafka messages, it holds the messages and
    makes SinkRecords only when asked: the database sink's fast path reads just the values (a
    SinkRecord costs ~1.5 us of Python per message, a fifth of that sink's whole CPU per record)."""

    __slots__ = ("topic", "_messages", "_records", "_values")

    def __init__(self, topic: Topic, records: list[SinkRecord] | None = None,
                 messages: list[Message] | None = None) -> None:  # fmt: skip
        self.topic = topic
        self._records = records
        self._messages = messages
        self._values: list[bytes | None] | None = None

    def __len__(self) -> int:
        return len(self._records if self._records is not None else self._messages or ())

    @property
    def records(self) -> list[SinkRecord]:
        if self._records is None:
            self._records = records_from_messages(self._messages or [], self.topic)
        return self._records

    def record(self, i: int) -> SinkRecord:
        """The part's i-th record, without making the others (the snapshot sampler needs a few)."""
        if self._records is not None:
            return self._records[i]
        assert self._messages is not None
        return record_from_message(self._messages[i], self.topic)

    @property
    def values(self) -> list[bytes | None]:
        if self._values is None:
            if self._records is not None:
                self._values = list(map(attrgetter("value"), self._records))
            else:
                self._values = list(map(Message.value, self._messages or []))
        return self._values


class SinkBatch:
    """Records in the order the consumer returned them (per partition: offset order): either
    SinkRecords, or the consumer's messages (without errors) and their topic kinds, turned into
    SinkRecords only when `records` is read."""

    def __init__(self, records: list[SinkRecord] | None = None, *, messages: list[Message] | None = None,
                 kind: Callable[[str], Topic] | None = None) -> None:  # fmt: skip
        if (records is None) == (messages is None) or (messages is not None and kind is None):
            raise ValueError("a batch holds records, or messages with their kind function")
        self._records = records
        self._messages = messages
        self._kind = kind
        self._parts: dict[Topic, BatchPart] | None = None

    def __len__(self) -> int:
        return len(self._records if self._records is not None else self._messages or ())

    @property
    def records(self) -> list[SinkRecord]:
        if self._records is None:
            parts = self.parts()
            if len(parts) == 1:
                self._records = next(iter(parts.values())).records
            else:  # the batch's order, with the parts' record objects
                by_position = {id(m): r for p in parts.values() for m, r in zip(p._messages or (), p.records,
                                                                                  strict=True)}  # fmt: skip
                self._records = [by_position[id(m)] for m in self._messages or ()]
        return self._records

    def parts(self) -> dict[Topic, BatchPart]:
        """The batch split by topic, each part in batch order."""
        if self._parts is None:
            if self._records is not None:
                groups: dict[Topic, list[SinkRecord]] = defaultdict(list)
                for rec in self._records:
                    groups[rec.topic].append(rec)
                self._parts = {t: BatchPart(t, records=recs) for t, recs in groups.items()}
            else:
                msgs, kind = self._messages or [], self._kind
                assert kind is not None
                names = list(map(Message.topic, msgs))
                distinct = set(names)
                if len(distinct) == 1:
                    name = distinct.pop()
                    self._parts = {kind(name): BatchPart(kind(name), messages=msgs)}  # type: ignore[arg-type]
                else:
                    by_name: dict[str, list[Message]] = defaultdict(list)
                    for name, msg in zip(names, msgs, strict=True):
                        by_name[name].append(msg)  # type: ignore[index]
                    self._parts = {kind(n): BatchPart(kind(n), messages=m) for n, m in by_name.items()}
        return self._parts

    def topic_counts(self) -> dict[Topic, int]:
        return {topic: len(part) for topic, part in self.parts().items()}

    def next_offsets(self) -> dict[tuple[str, int], int]:
        """The offset after the batch's last record, per (topic name, partition)."""
        if self._records is not None:
            nxt: dict[tuple[str, int], int] = {}
            for rec in self._records:
                k = (rec.topic_name, rec.partition)
                if rec.offset + 1 > nxt.get(k, -1):
                    nxt[k] = rec.offset + 1
            return nxt
        msgs = self._messages or []
        keys = zip(map(Message.topic, msgs), map(Message.partition, msgs), strict=True)
        # The highest offset, not the last: after a rebalance a partition may be read again from an
        # earlier offset within one batch.
        highest: dict[tuple[str, int], int] = {}
        for key, offset in zip(keys, map(Message.offset, msgs), strict=True):
            if offset >= highest.get(key, -1):  # type: ignore[operator,arg-type]
                highest[key] = offset  # type: ignore[index,assignment]
        return {k: o + 1 for k, o in highest.items()}


@dataclass
class WriteResult:
    """What one `write` did. `dlq` holds orderbook.dlq records (dicts from schemas.dlq_record) that
    the loop publishes in the same Kafka transaction as the batch's offsets."""

    stored: dict[Topic, int] = field(default_factory=dict)
    rejected: dict[tuple[Topic, RejectKind], int] = field(default_factory=dict)
    dlq: list[dict[str, Any]] = field(default_factory=list)

    def count_stored(self, topic: Topic, n: int = 1) -> None:
        self.stored[topic] = self.stored.get(topic, 0) + n

    def count_rejected(self, topic: Topic, kind: RejectKind, n: int = 1) -> None:
        self.rejected[(topic, kind)] = self.rejected.get((topic, kind), 0) + n

    def reject(self, source: str, rec: SinkRecord, rejected: RejectedRecord, *, to_dlq: bool = True) -> None:
        """Counts a reject and, unless told otherwise, adds its orderbook.dlq record: `source` (the
        sink) rejected the record at topic[partition]@offset for `rejected.reason`; the record's
        key and original bytes go with it, so it can be replayed once the cause is fixed."""
        self.count_rejected(rec.topic, rejected.kind)
        if to_dlq:
            self.dlq.append(dlq_record(source=source, reason=rejected.reason, payload=rec.value or b"",
                                       key=rec.key_text, topic=rec.topic_name, partition=rec.partition,
                                       offset=rec.offset))  # fmt: skip


Prepared = TypeVar("Prepared")


class BatchingSink(ABC, Generic[Prepared]):
    """What the consume loop needs from a sink: every hook it calls, with its default.

    `write_prepared(prepare(batch))` must be idempotent (a batch may be written again after a crash
    or a failed commit) and must either store the whole batch durably or raise. Exceptions listed
    in `transient_errors` make the loop retry the same batch with backoff; anything else stops the
    sink without committing, so the batch is read again on restart.

    The split into `prepare` (the CPU work, touching no connection) and `write_prepared` (the store
    round trips) lets the loop prepare the next batch while the current one is written
    (sinks.consume_loop); a sink that has nothing to prepare keeps the default, which hands the
    batch itself to `write_prepared`.
    """

    name: ClassVar[str]
    topics: ClassVar[tuple[Topic, ...]]
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    def setup(self) -> None:
        """Connects to the store before the first batch (retried while it raises a transient error)."""

    def prepare(self, batch: SinkBatch) -> Prepared:
        """Decodes and judges a batch; runs in the loop's main thread while the previous batch is
        being written, so it must not touch the store's connection."""
        return batch  # type: ignore[return-value]

    @abstractmethod
    def write_prepared(self, prepared: Prepared) -> WriteResult:
        """Stores a prepared batch (in the loop's writer thread)."""

    def write(self, batch: SinkBatch) -> WriteResult:
        """Prepare and store in one call (tests, benches, tools)."""
        return self.write_prepared(self.prepare(batch))

    def idle(self) -> None:
        """Called about once a second while no records arrive (the Redis sink: refill, heartbeat)."""

    def close(self) -> None:
        """Releases the store's connection when the loop stops."""


@dataclass(frozen=True)
class TopicNames:
    """Topic names on the broker: the contract's names behind an optional prefix (tests isolate
    their runs with KafkaSettings.topic_prefix)."""

    prefix: str = ""

    def name(self, topic: Topic) -> str:
        return topic_name(topic, self.prefix)

    def kind(self, name: str) -> Topic:
        if not name.startswith(self.prefix):
            raise ValueError(f"topic {name!r} lacks the prefix {self.prefix!r}")
        return Topic(name[len(self.prefix) :])


def records_from_messages(msgs: list[Message], topic: Topic) -> list[SinkRecord]:
    """Consumed (non-error) messages of one topic as SinkRecords."""
    out = []
    for msg in msgs:
        _, ts = msg.timestamp()
        out.append(SinkRecord(topic, msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(),  # type: ignore[arg-type]
                              ts if ts > 0 else 0))  # fmt: skip
    return out


def record_from_message(msg: Message, topic: Topic) -> SinkRecord:
    """A consumed (non-error) Kafka message as a SinkRecord. Runs once per record at the sinks'
    full rate, hence positional arguments and no typing.cast calls (each one a function call)."""
    _, ts = msg.timestamp()
    return SinkRecord(topic, msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(),  # type: ignore[arg-type]
                      ts if ts > 0 else 0)  # fmt: skip
