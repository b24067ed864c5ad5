"""The sink contract, after Quix Streams' BatchingSink: a sink implements `setup()` and
`write(batch)`; the shared consume loop (sinks.consume_loop) does the batching, the retries and the
offset commits. Keeping Kafka out of the sinks lets their logic be tested with plain records and
keeps the one delicate part, "commit only what was stored", in one place."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import Message

from schemas.topics import Topic


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


@dataclass
class SinkBatch:
    """Records in the order the consumer returned them (per partition: offset order)."""

    records: list[SinkRecord]

    def __len__(self) -> int:
        return len(self.records)

    def by_topic(self) -> dict[Topic, list[SinkRecord]]:
        out: dict[Topic, list[SinkRecord]] = defaultdict(list)
        for rec in self.records:
            out[rec.topic].append(rec)
        return out


@dataclass
class WriteResult:
    """What one `write` did. `dlq` holds orderbook.dlq records (dicts from schemas.dlq_record) that
    the loop publishes in the same Kafka transaction as the batch's offsets."""

    stored: dict[Topic, int] = field(default_factory=dict)
    rejected: dict[Topic, int] = field(default_factory=dict)
    dlq: list[dict[str, Any]] = field(default_factory=list)

    def count_stored(self, topic: Topic, n: int = 1) -> None:
        self.stored[topic] = self.stored.get(topic, 0) + n

    def count_rejected(self, topic: Topic, n: int = 1) -> None:
        self.rejected[topic] = self.rejected.get(topic, 0) + n


class BatchingSink(Protocol):
    """What the consume loop needs from a sink.

    `write` must be idempotent (a batch may be written again after a crash or a failed commit) and
    must either store the whole batch durably or raise. Exceptions listed in `transient_errors`
    make the loop retry the same batch with backoff; anything else stops the sink without
    committing, so the batch is read again on restart.

    Optionally a sink also offers `prepare(batch)` (the CPU work, touching no connection) and
    `write_prepared(prepared)` (the store round trips), with `write(b) == write_prepared(prepare(b))`;
    the loop then prepares the next batch while the current one is written (sinks.consume_loop).
    """

    name: str
    topics: tuple[Topic, ...]
    transient_errors: tuple[type[BaseException], ...]

    def setup(self) -> None: ...

    def write(self, batch: SinkBatch) -> WriteResult: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class TopicNames:
    """Topic names on the broker: the contract's names behind an optional prefix (tests isolate
    their runs with KafkaSettings.topic_prefix)."""

    prefix: str = ""

    def name(self, topic: Topic) -> str:
        return f"{self.prefix}{topic.value}"

    def kind(self, name: str) -> Topic:
        if not name.startswith(self.prefix):
            raise ValueError(f"topic {name!r} lacks the prefix {self.prefix!r}")
        return Topic(name[len(self.prefix) :])


def record_from_message(msg: Message, topic: Topic) -> SinkRecord:
    """A consumed (non-error) Kafka message as a SinkRecord. Runs once per record at the sinks'
    full rate, hence positional arguments and no typing.cast calls (each one a function call)."""
    _, ts = msg.timestamp()
    return SinkRecord(topic, msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(),  # type: ignore[arg-type]
                      ts if ts > 0 else 0)  # fmt: skip
