"""The pipelined consume loop against a real Kafka: the next batch is prepared while a batch is
being written, yet no offset is committed before its batch's write returned, a transient failure in
the writer thread is retried, a failed commit writes its batch again before committing, and a fatal
write error stops the loop without committing the failed batch."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from sink_test_support import SinkTestEnv, wait_for

from config.clients import consumer_config
from schemas.topics import Topic
from sinks.batching import BatchingSink, SinkBatch, SinkRecord, WriteResult
from sinks.consume_loop import ConsumeLoop
from sinks.offset_commit import CommitFailed
from sinks.sink_metrics import SinkMetrics

pytestmark = pytest.mark.integration


class StoreDown(ConnectionError):
    pass


@dataclass
class RecordingSink(BatchingSink[list[SinkRecord]]):
    """Stores offsets in memory; checks in every write that Kafka has no commit beyond the batch."""

    committed_of: object  # callable: () -> {(topic, partition): committed offset}
    fail_on_batch: dict[int, type[BaseException]] = field(default_factory=dict)
    name = "recording"
    topics = (Topic.PROCESSED,)
    transient_errors = (StoreDown,)
    stored: list[tuple[str, int, int]] = field(default_factory=list)
    writes: int = 0
    writing: bool = False
    prepared_while_writing: int = 0
    ahead_of_write: list[str] = field(default_factory=list)

    def prepare(self, batch: SinkBatch) -> list[SinkRecord]:
        if self.writing:
            self.prepared_while_writing += 1
        return list(batch.records)

    def write_prepared(self, records: list[SinkRecord]) -> WriteResult:
        self.writing = True
        try:
            self.writes += 1
            for (topic, part), committed in self.committed_of().items():  # type: ignore[operator]
                first = min(
                    (r.offset for r in records if (r.topic_name, r.partition) == (topic, part)), default=None
                )
                if first is not None and committed > first:
                    self.ahead_of_write.append(f"{topic}[{part}] committed {committed} > {first}")
            error = self.fail_on_batch.pop(self.writes, None)
            if error is not None:
                raise error("injected")
            time.sleep(0.3)  # a slow store: the loop reads and prepares the next batch meanwhile
            self.stored += [(r.topic_name, r.partition, r.offset) for r in records]
            result = WriteResult()
            result.count_stored(Topic.PROCESSED, len(records))
            return result
        finally:
            self.writing = False


@pytest.fixture
def watchers() -> Iterator[list[Consumer]]:
    """Consumers that read the group's committed offsets; closed at the end of the test."""
    made: list[Consumer] = []
    yield made
    for c in made:
        c.close()


def _setup(env: SinkTestEnv, n: int, fail: dict[int, type[BaseException]],
           watchers: list[Consumer]) -> tuple[ConsumeLoop, RecordingSink]:  # fmt: skip
    for i in range(n):
        env.produce(Topic.PROCESSED, env.processed(i, symbol=("BTCUSDT", "ETHUSDT", "SOLUSDT")[i % 3]))
    env.flush()
    group = f"loop-{uuid.uuid4().hex[:8]}"
    topic = env.topic(Topic.PROCESSED)
    watcher = Consumer(consumer_config(env.kafka, group))
    watchers.append(watcher)
    lock = threading.Lock()

    def committed() -> dict[tuple[str, int], int]:
        for attempt in range(40):  # a new group's coordinator may still be loading
            try:
                with lock:
                    got = watcher.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
                return {(tp.topic, tp.partition): tp.offset for tp in got if tp.offset >= 0}
            except KafkaException:
                if attempt == 39:
                    raise
                time.sleep(0.25)
        raise AssertionError("unreachable")

    sink = RecordingSink(committed_of=committed, fail_on_batch=fail)
    loop = ConsumeLoop(sink, env.kafka, group, SinkMetrics("recording"), batch_max_records=400, batch_max_ms=100,
                       max_backoff_s=0.5)  # fmt: skip
    loop.committed = committed  # type: ignore[attr-defined] - for the test's own checks
    return loop, sink


def _run(loop: ConsumeLoop) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def body() -> None:
        try:
            loop.run()
        except BaseException as exc:  # noqa: BLE001 - inspected by the test
            errors.append(exc)

    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t, errors


def test_prepares_ahead_but_commits_only_written_batches_and_retries_transient_failures(sink_env, watchers):
    n = 3_000
    loop, sink = _setup(sink_env, n, fail={2: StoreDown}, watchers=watchers)
    t, errors = _run(loop)
    wait_for("every record committed", lambda: sum(loop.committed().values()) == n, timeout_s=90)  # type: ignore[attr-defined]
    loop.request_stop()
    t.join(30)
    assert not errors and not t.is_alive()
    assert sink.prepared_while_writing >= 1, "the next batch should be prepared during a write"
    assert sink.ahead_of_write == []
    assert len(set(sink.stored)) == len(sink.stored) == n  # each record once (a retried write stored nothing)
    assert loop.metrics.value("obm_sink_write_retries_total") >= 1


def test_a_fatal_write_error_stops_the_loop_without_committing_that_batch(sink_env, watchers):
    loop, sink = _setup(sink_env, 2_000, fail={3: RuntimeError}, watchers=watchers)
    t, errors = _run(loop)
    t.join(60)
    assert not t.is_alive() and len(errors) == 1 and isinstance(errors[0], RuntimeError)
    stored = {(topic, part): max(o for tp, pp, o in sink.stored if (tp, pp) == (topic, part)) + 1
              for topic, part, _ in sink.stored}  # fmt: skip
    committed = loop.committed()  # type: ignore[attr-defined]
    assert sink.writes == 3 and len(sink.stored) < 2_000
    # committed exactly what the two successful writes stored, nothing of the failed or prepared batches
    assert committed == stored
    assert sink.ahead_of_write == []


def test_a_failed_commit_writes_its_batch_again_and_commits_in_order(sink_env, watchers, monkeypatch):
    import sinks.consume_loop as consume_loop

    failed: list[int] = []

    class FailingOnce(consume_loop.OffsetCommitter):
        def commit(self, offsets, dlq):
            if not failed and offsets:
                failed.append(1)
                raise CommitFailed("injected")
            super().commit(offsets, dlq)

    monkeypatch.setattr(consume_loop, "OffsetCommitter", FailingOnce)
    n = 2_000
    loop, sink = _setup(sink_env, n, fail={}, watchers=watchers)
    t, errors = _run(loop)
    wait_for("every record committed", lambda: sum(loop.committed().values()) == n, timeout_s=90)  # type: ignore[attr-defined]
    loop.request_stop()
    t.join(30)
    assert not errors and failed == [1]
    assert sink.ahead_of_write == []
    assert len(set(sink.stored)) == n  # every record stored
    assert len(sink.stored) > n  # the batch whose commit failed was written again
    assert loop.metrics.value("obm_sink_commit_failures_total") == 1
