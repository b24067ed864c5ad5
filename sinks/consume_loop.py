"""The consume loop shared by every sink: read a batch (by size or time, whichever comes first),
hand it to the sink, and commit its offsets only after `write` returned, i.e. after the store has
the batch durably. A crash anywhere before the commit means the batch is read again, and the sinks'
idempotent writes make that harmless: nothing lost, nothing doubled.

When the store is down, `write` raises one of the sink's transient errors; the loop then retries
the same batch with capped exponential backoff. Meanwhile it pauses its partitions and keeps
polling, so the consumer stays in its group (no rebalance storm during a long outage) and its
position does not move.

Pipelining: a sink splits its write into `prepare(batch)` (decoding, judging, payloads: CPU work
that touches no connection) and `write_prepared(prepared)` (the store round trips). The loop
then writes batch N in a writer thread while the main thread reads and prepares batch N+1, so the
decoding overlaps the store's work (the database or Redis server process, and socket waits that
release the GIL). Order is unchanged: batch N's offsets are committed (by the main thread) only
after its write returned, and before batch N+1's offsets; the commit of N runs while N+1 is being
written (N's transaction is already committed, so that cannot store anything out of order). A
batch whose write failed is retried, write and commit, before the next batch's write starts; a
failed commit of N waits for N+1's write to end, then writes N again and commits it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from config import KafkaSettings
from config.clients import consumer_config
from schemas.topics import Topic
from sinks.batching import BatchingSink, SinkBatch, TopicNames, WriteResult
from sinks.offset_commit import CommitFailed, OffsetCommitter
from sinks.sink_metrics import SinkMetrics

log = logging.getLogger(__name__)


class SinkGaveUp(RuntimeError):
    """Shutdown was requested while the store was still unreachable: the pending batch stays
    uncommitted and is read again on the next start."""


@dataclass
class _InFlight:
    """A batch whose write runs in the writer thread; committed by the main thread once it returned."""

    batch: SinkBatch
    prepared: object
    future: Future[WriteResult]


class ConsumeLoop:
    def __init__(
        self,
        sink: BatchingSink[Any],
        kafka: KafkaSettings,
        group_id: str,
        metrics: SinkMetrics,
        *,
        batch_max_records: int = 5_000,
        batch_max_ms: int = 200,
        max_backoff_s: float = 10.0,
        shutdown_grace_s: float = 15.0,
        extra_consumer_config: dict[str, object] | None = None,
        pipelined: bool = True,
    ) -> None:
        self.sink = sink
        self.kafka = kafka
        self.group_id = group_id
        self.metrics = metrics
        self.names = TopicNames(kafka.topic_prefix)
        self.batch_max_records = batch_max_records
        self.batch_max_s = batch_max_ms / 1000
        self.max_backoff_s = max_backoff_s
        self.shutdown_grace_s = shutdown_grace_s
        self._stop = threading.Event()
        self._stop_requested_at: float | None = None
        self._carry: list[Message] = []
        self._last_idle = 0.0
        self._kinds: dict[str, Topic] = {}
        self.gave_up = False  # stopped with an unwritten batch (store down at shutdown)
        self.pipelined = pipelined
        self._inflight: _InFlight | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._consumer_config: dict[str, object] = {
            **consumer_config(kafka, group_id),
            "client.id": f"obm-sink-{sink.name}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            # Long store outages are handled by pausing, but leave room for a slow single write.
            "max.poll.interval.ms": 600_000,
            **(extra_consumer_config or {}),
        }
        self.consumer: Consumer | None = None
        self.committer: OffsetCommitter | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Signal-safe: the loop finishes the batch at hand (flush), commits and returns."""
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, on_ready: Callable[[], None] | None = None) -> None:
        self._retry_transient("setup", self.sink.setup)
        consumer = Consumer(self._consumer_config)
        self.consumer = consumer
        self.committer = OffsetCommitter(
            consumer, self.kafka.bootstrap_servers, self.names.name(Topic.DLQ), f"{self.group_id}-dlq"
        )
        topics = [self.names.name(t) for t in self.sink.topics]
        consumer.subscribe(topics, on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info("sink %s consuming %s as group %s", self.sink.name, topics, self.group_id)
        if on_ready:
            on_ready()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix=f"sink-{self.sink.name}-write")
        try:
            while True:
                stopping = self.stopping
                messages = self._collect()
                if messages:
                    batch = SinkBatch(messages=messages, kind=self._kind)
                    prepared = self.sink.prepare(batch)  # overlaps the write of the batch before
                    written = self._await_write()
                    self._start_write(batch, prepared)
                    if written is not None:  # its commit overlaps the write just started
                        self._write_and_commit(*written)
                else:
                    self._flush()
                    self._idle()
                if stopping:
                    self._flush()
                    break
        except SinkGaveUp as exc:
            self.gave_up = True
            log.error("%s", exc)
        finally:
            if self._inflight is not None:  # stopped by an error: let the write end, never commit it
                wait([self._inflight.future])
                self._inflight = None
            self._writer.shutdown(wait=True)
            self.committer.close()
            consumer.close()
            self.sink.close()
            log.info("sink %s stopped", self.sink.name)

    def _idle(self) -> None:
        """Gives the sink's `idle` hook (the Redis sink: refill check, heartbeat) a turn, at most
        once a second, while no records arrive."""
        now = time.monotonic()
        if now - self._last_idle < 1.0:
            return
        self._last_idle = now
        try:
            self.sink.idle()
        except self.sink.transient_errors as exc:
            log.warning("sink %s idle check failed: %s", self.sink.name, exc)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("assigned %s", [(p.topic, p.partition) for p in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Nothing to hand over: uncommitted records of these partitions are read again by their new
        # owner, and writing them twice is harmless. Their offsets are left out of our next commit.
        log.info("revoked %s", [(p.topic, p.partition) for p in partitions])

    # -- batching -------------------------------------------------------------------------------
    def _kind(self, name: str) -> Topic:
        kind = self._kinds.get(name)
        if kind is None:
            kind = self._kinds[name] = self.names.kind(name)
        return kind

    def _add_messages(self, msgs: list[Message], out: list[Message]) -> None:
        """Appends the messages that carry records to `out`; errors are logged (fatal ones raise).
        This runs at the sinks' full rate: the error check is one C-level pass, and the messages
        become SinkRecords only where a sink asks for them (sinks.batching.SinkBatch)."""
        if not any(map(Message.error, msgs)):
            out += msgs
            return
        for msg in msgs:
            err = msg.error()
            if err is None:
                out.append(msg)
            elif err.fatal():
                raise KafkaException(err)
            elif err.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer: %s", err)

    def _collect(self) -> list[Message]:
        """Up to batch_max_records records (as messages), waiting at most batch_max_ms (returns early on stop;
        what was already fetched is still returned and written: that is the shutdown flush)."""
        assert self.consumer is not None
        records, self._carry = self._carry, []
        deadline = time.monotonic() + self.batch_max_s
        while len(records) < self.batch_max_records:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.stopping:
                break
            # Short waits, so a stop request is seen within half a second even with long batches.
            msgs = self.consumer.consume(num_messages=min(10_000, self.batch_max_records - len(records)),
                                         timeout=min(remaining, 0.5))  # fmt: skip
            self._add_messages(msgs, records)
        return records

    # -- writing and committing -----------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        return float(min(self.max_backoff_s, 0.2 * 2 ** min(attempt, 10)))

    def _check_grace(self, what: str) -> None:
        if (
            self._stop_requested_at is not None
            and time.monotonic() - self._stop_requested_at > self.shutdown_grace_s
        ):
            raise SinkGaveUp(f"sink {self.sink.name}: stopping with {what} still failing; "
                             "the pending batch was not committed and will be read again")  # fmt: skip

    def _retry_transient(self, what: str, fn: Callable[[], object]) -> None:
        attempt = 0
        while True:
            try:
                fn()
                self.metrics.store_up.labels(self.sink.name).set(1)
                return
            except self.sink.transient_errors as exc:
                self.metrics.store_up.labels(self.sink.name).set(0)
                delay = self._backoff(attempt)
                attempt += 1
                log.warning(
                    "sink %s %s failed (%s); retry %d in %.1fs", self.sink.name, what, exc, attempt, delay
                )
                self._check_grace(what)
                time.sleep(delay)

    def _write_prepared(self, prepared: object) -> WriteResult:
        """One write attempt (in the writer thread, or in the main thread when retrying)."""
        started = time.perf_counter()
        result = self.sink.write_prepared(prepared)
        self.metrics.batch_seconds.labels(self.sink.name).observe(time.perf_counter() - started)
        return result

    def _start_write(self, batch: SinkBatch, prepared: object) -> None:
        assert self._writer is not None and self._inflight is None
        if not self.pipelined:
            self._write_and_commit(batch, prepared)
            return
        self._inflight = _InFlight(batch, prepared, self._writer.submit(self._write_prepared, prepared))

    def _await_write(self) -> tuple[SinkBatch, object, WriteResult] | None:
        """Waits for the write in flight. Returns its batch and result, still to be committed; when
        it failed transiently, retries it here (write and commit) and returns None; a non-transient
        error propagates and nothing is committed."""
        inflight, self._inflight = self._inflight, None
        if inflight is None:
            return None
        retryable: tuple[type[BaseException], ...] = (CommitFailed, *self.sink.transient_errors)
        try:
            result = inflight.future.result()
        except retryable as exc:
            self._write_and_commit(inflight.batch, inflight.prepared, failed=exc)
            return None
        return inflight.batch, inflight.prepared, result

    def _flush(self) -> None:
        """Waits for the write in flight and commits it."""
        written = self._await_write()
        if written is not None:
            self._write_and_commit(*written)

    def _writer_idle(self) -> None:
        """Lets the write in flight (of the next batch) end before this thread writes again: one
        connection, one write at a time. Its outcome stays in its future for _await_write."""
        if self._inflight is not None:
            wait([self._inflight.future])

    def _write_and_commit(self, batch: SinkBatch, prepared: object, result: WriteResult | None = None,
                          failed: BaseException | None = None) -> None:  # fmt: skip
        """Writes (unless `result` is the outcome of a write already done) and commits the batch,
        retrying both with backoff; `failed` is the error of a first attempt made elsewhere."""
        assert self.consumer is not None and self.committer is not None
        name = self.sink.name
        retryable: tuple[type[BaseException], ...] = (CommitFailed, *self.sink.transient_errors)
        attempt = 0
        paused: list[TopicPartition] = []
        try:
            while True:
                try:
                    if failed is not None:
                        exc, failed = failed, None
                        raise exc
                    if result is None:
                        result = self._write_prepared(prepared)
                    self.metrics.store_up.labels(name).set(1)
                    offsets = self._offsets(batch)
                    self.committer.commit(offsets, result.dlq)
                    break
                except retryable as exc:
                    result = None  # a failed commit means the batch is written again
                    self._writer_idle()
                    if isinstance(exc, CommitFailed):
                        self.metrics.commit_failures.labels(name).inc()
                    else:
                        self.metrics.store_up.labels(name).set(0)
                        self.metrics.write_retries.labels(name).inc()
                    delay = self._backoff(attempt)
                    attempt += 1
                    log.warning("sink %s: batch of %d not done (%s); retry %d in %.1fs",
                                name, len(batch), exc, attempt, delay)  # fmt: skip
                    self._check_grace("the store")
                    if not paused:
                        paused = list(self.consumer.assignment())
                        self.consumer.pause(paused)
                    self._wait_polling(delay)
        finally:
            if paused:
                self.consumer.resume(list(self.consumer.assignment()))
        assert result is not None
        self._account(batch, result, offsets)

    def _wait_polling(self, seconds: float) -> None:
        """Sleep while serving the consumer (group membership, rebalances). Partitions are paused,
        so records rarely arrive; any that do are kept, in order, for the next batch."""
        assert self.consumer is not None
        end = time.monotonic() + seconds
        while (remaining := end - time.monotonic()) > 0:
            msg = self.consumer.poll(min(0.5, remaining))
            if msg is not None:
                self._add_messages([msg], self._carry)
            self._check_grace("the store")

    def _offsets(self, batch: SinkBatch) -> list[TopicPartition]:
        """Next offset per partition of the batch, limited to partitions we still own."""
        assert self.consumer is not None
        nxt = batch.next_offsets()
        owned = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        return [TopicPartition(t, p, o) for (t, p), o in nxt.items() if (t, p) in owned]

    def _account(self, batch: SinkBatch, result: WriteResult, offsets: list[TopicPartition]) -> None:
        assert self.consumer is not None
        m, name = self.metrics, self.sink.name
        m.batches.labels(name).inc()
        m.batch_records.labels(name).observe(len(batch))
        m.last_commit.labels(name).set(time.time())
        for topic, count in batch.topic_counts().items():
            m.records_consumed.labels(name, topic.value).inc(count)
        for topic, n in result.stored.items():
            m.records_stored.labels(name, topic.value).inc(n)
        for (topic, kind), n in result.rejected.items():
            m.records_rejected.labels(name, topic.value, kind.value).inc(n)
        for tp in offsets:
            try:
                _, high = self.consumer.get_watermark_offsets(tp, cached=True)
            except KafkaException:
                continue
            if high >= 0:
                m.lag.labels(name, tp.topic, str(tp.partition)).set(max(0, high - tp.offset))
