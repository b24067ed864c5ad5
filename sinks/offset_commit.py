"""Commits a batch's offsets, and publishes its DLQ records atomically with them.

A batch without rejects commits with a plain synchronous consumer commit. A batch with rejects
publishes its orderbook.dlq records and its offsets in one Kafka transaction
(send_offsets_to_transaction): either both happen or neither, so a crash between "DLQ record sent"
and "offset committed" can neither lose a DLQ record nor send it twice (the batch is simply read
and rejected again, and the aborted records stay invisible to read_committed readers).
The transactional producer is created on the first reject, so a broker without transaction support
only matters once there is something to reject.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

log = logging.getLogger(__name__)


class CommitFailed(RuntimeError):
    """The offsets (and DLQ records) of a batch were not committed; the batch must be written again."""


class OffsetCommitter:
    def __init__(
        self, consumer: Consumer, bootstrap_servers: str, dlq_topic: str, transactional_prefix: str
    ) -> None:
        self._consumer = consumer
        self._bootstrap = bootstrap_servers
        self._dlq_topic = dlq_topic
        self._txn_prefix = transactional_prefix
        self._producer: Producer | None = None

    def _transactional_producer(self) -> Producer:
        if self._producer is None:
            producer = Producer(
                {
                    "bootstrap.servers": self._bootstrap,
                    # A fresh id per process: fencing of a zombie sink is done by the consumer group
                    # generation carried in send_offsets_to_transaction (KIP-447), not by the id.
                    "transactional.id": f"{self._txn_prefix}-{uuid.uuid4().hex[:12]}",
                    "enable.idempotence": True,
                    "linger.ms": 5,
                }
            )
            producer.init_transactions(30)
            self._producer = producer
        return self._producer

    def commit(self, offsets: list[TopicPartition], dlq: list[dict[str, Any]]) -> None:
        """Raises CommitFailed when nothing was committed (the caller writes the batch again)."""
        if not offsets and not dlq:
            return
        if not dlq:
            try:
                self._consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as exc:
                raise CommitFailed(f"offset commit failed: {exc}") from exc
            return
        self._commit_with_dlq(offsets, dlq)

    def _commit_with_dlq(self, offsets: list[TopicPartition], dlq: list[dict[str, Any]]) -> None:
        try:
            producer = self._transactional_producer()
            producer.begin_transaction()
            for rec in dlq:
                producer.produce(self._dlq_topic, key=rec.get("key"), value=orjson.dumps(rec))
            if offsets:
                producer.send_offsets_to_transaction(offsets, self._consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(30)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            self._recover(err)
            raise CommitFailed(f"DLQ transaction failed: {exc}") from exc

    def _recover(self, err: Any) -> None:
        """Leave the producer usable for the next attempt: abort an open transaction, or drop a
        producer that hit a fatal error (e.g. fenced) so the next attempt makes a new one."""
        producer = self._producer
        if producer is None:
            return
        fatal = bool(err is not None and hasattr(err, "fatal") and err.fatal())
        if not fatal:
            try:
                producer.abort_transaction(30)
                return
            except KafkaException as exc:  # the abort itself failed: start over with a new producer
                log.warning("aborting the DLQ transaction failed: %s", exc)
        self._producer = None
        time.sleep(0.1)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None
