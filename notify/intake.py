"""Reading orderbook.alerts: route each alert, store the (alert, receiver) rows, and only then
commit the offsets. A crash before the store's commit reads the alerts again; after it and before
the offset commit, reads them again and the store keeps the rows it has (the key is alert id and
receiver): nothing lost, nothing stored twice. The consumer is read_committed (config.clients)
so alerts of an aborted Flink transaction are never delivered.

confluent-kafka blocks, so polling and committing run in a worker thread; at most one call into
the consumer runs at a time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from config import KafkaSettings
from config.clients import consumer_config
from config.settings import NotifySettings
from notify.metrics import NotifyMetrics
from notify.routing import Router
from notify.store import Routed, Store
from schemas.topics import Topic, topic_name
from sinks.decoding.contract import RejectKind, SinkContract

log = logging.getLogger(__name__)


class Intake:
    def __init__(self, settings: NotifySettings, kafka: KafkaSettings, router: Router, store: Store,
                 metrics: NotifyMetrics, clock: Callable[[], datetime],
                 contract: SinkContract | None = None) -> None:  # fmt: skip
        self.router = router
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.contract = contract or SinkContract.from_settings()
        self.topic = topic_name(Topic.ALERTS, kafka.topic_prefix)
        self.consumer = Consumer(
            consumer_config(kafka, settings.group, {
                "client.id": "obm-notify",
                "auto.offset.reset": "earliest",
                "enable.auto.offset.store": False,
                # A database outage is waited out without polling; leave room before a rebalance.
                "max.poll.interval.ms": 600_000,
                **({"group.instance.id": settings.instance_id} if settings.instance_id else {}),
            })
        )  # fmt: skip
        self.consumer.subscribe([self.topic])

    def assigned(self) -> bool:
        return bool(self.consumer.assignment())

    def _consume(self, max_records: int = 500, timeout_s: float = 0.5) -> list[Message]:
        msgs = self.consumer.consume(max_records, timeout=0) or self.consumer.consume(1, timeout=timeout_s)
        out = []
        for msg in msgs:
            err = msg.error()
            if err is None:
                out.append(msg)
            elif err.fatal():
                raise KafkaException(err)
            elif err.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error: %s", err)
        return out

    def rows_of(self, msgs: list[Message]) -> list[Routed]:
        """The rows to store for a batch; nonconforming records are counted and skipped (the sinks,
        which read the same topic, send them to orderbook.dlq with the reason)."""
        judge = self.contract.at(Topic.ALERTS, self.contract.clock())
        received_at = self.clock()
        rows: list[Routed] = []
        for msg in msgs:
            try:
                alert: dict[str, Any] = orjson.loads(msg.value() or b"")
            except orjson.JSONDecodeError:
                self.metrics.alerts_skipped.labels(RejectKind.NOT_JSON.value).inc()
                continue
            rejected = judge.judge(alert)
            if rejected is not None:
                self.metrics.alerts_skipped.labels(rejected.kind.value).inc()
                log.warning("skipped a record of %s at %s/%s: %s", msg.topic(), msg.partition(),
                            msg.offset(), rejected)  # fmt: skip
                continue
            self.metrics.alerts_in.inc()
            destinations = self.router.route(alert)
            if not destinations:
                self.metrics.unrouted.inc()
            rows += [
                Routed(alert["alert_id"], d.receiver, d.group_key, d.group_window_s, d.repeat_interval_s,
                       alert, received_at)
                for d in destinations
            ]  # fmt: skip
        return rows

    def _commit(self, msgs: list[Message]) -> None:
        nxt: dict[tuple[str, int], int] = {}
        for m in msgs:
            key = (str(m.topic()), int(m.partition() or 0))
            nxt[key] = max(nxt.get(key, 0), int(m.offset() or 0) + 1)
        offsets = [TopicPartition(t, p, o) for (t, p), o in nxt.items()]
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:  # e.g. a rebalance took the partition: read again, stored once
            log.warning("offset commit failed (the alerts are read again, not stored twice): %s", exc)
            return
        for tp in offsets:
            try:
                _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            except KafkaException:
                continue
            if high >= 0:
                self.metrics.lag.labels(str(tp.partition)).set(max(0, high - tp.offset))

    async def run(self, stop: asyncio.Event, backoff_max_s: float = 10.0) -> None:
        """Until `stop`: poll, store, commit. While the database is down the batch at hand is kept
        and stored again with backoff; nothing further is read meanwhile."""
        batch: list[Message] = []
        rows: list[Routed] = []
        failures = 0
        while not stop.is_set():
            if not batch:
                batch = await asyncio.to_thread(self._consume)
                if not batch:
                    continue
                rows = self.rows_of(batch)
            try:
                await self.store.add_routed(rows)
            except Exception as exc:  # noqa: BLE001 - the database: keep the batch, retry
                failures += 1
                self.metrics.store_up.set(0)
                log.warning("storing %d alerts failed (attempt %d): %s", len(batch), failures, exc)
                try:
                    await asyncio.wait_for(stop.wait(), min(backoff_max_s, 0.2 * 2**failures))
                except TimeoutError:
                    pass
                continue
            self.metrics.store_up.set(1)
            failures = 0
            await asyncio.to_thread(self._commit, batch)
            batch = []

    async def close(self) -> None:
        await asyncio.to_thread(self.consumer.close)
