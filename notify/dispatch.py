"""Sending what is due. A group (receiver, group key) of pending alerts is due when its first
pending alert has waited the group window and, if the group had a message before, the repeat
interval has passed since that message. Then its alerts that a silence matches are recorded as
silenced, and the rest go out as one message, retried with exponential backoff on receiver errors;
each attempt is recorded, and the final one (delivered or failed) decides the alerts in the same
transaction.

A crash leaves undecided alerts pending, and they go out after the restart: the one window for a
duplicate is between a receiver's 2xx and the recording of it, and the message then carries the
same notification id (webhooks: the Idempotency-Key header)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from config.settings import NotifySettings
from notify.messages import Notification, make_notification
from notify.metrics import NotifyMetrics
from notify.receivers import Outcome, ReceiverClient, backoff_s
from notify.silences import silenced_by
from notify.store import Attempt, PendingGroup, Store

log = logging.getLogger(__name__)


class ReceiverGate:
    """At most `limit` requests in flight to one receiver, and none before the time its last 429
    asked for: a chat service that limits messages per second is paused as a whole instead of being
    hit by every waiting message (each of which would spend an attempt on another 429)."""

    def __init__(self, limit: int, max_pause_s: float) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._max_pause_s = max_pause_s
        self._not_before = 0.0  # time.monotonic()
        self.waiting = 0  # deliveries waiting for a slot (tests, and the reason a message is late)

    async def send(self, client: ReceiverClient, n: Notification) -> Outcome:
        self.waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self.waiting -= 1
        try:
            pause = self._not_before - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause)
            outcome = await client.send(n)
            if outcome.http_code == 429 and outcome.retry_after_s:
                pause_s = min(outcome.retry_after_s, self._max_pause_s)
                self._not_before = max(self._not_before, time.monotonic() + pause_s)
            return outcome
        finally:
            self._slots.release()


def due_at(group: PendingGroup) -> datetime:
    first = group.first_at + timedelta(seconds=group.group_window_s)
    if group.last_sent_at is None:
        return first
    return max(first, group.last_sent_at + timedelta(seconds=group.repeat_interval_s))


class Dispatcher:
    def __init__(self, settings: NotifySettings, store: Store, clients: dict[str, ReceiverClient],
                 metrics: NotifyMetrics, clock: Callable[[], datetime]) -> None:  # fmt: skip
        self.settings = settings
        self.store = store
        self.clients = clients
        self.metrics = metrics
        self.clock = clock
        self.inflight: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.stopping = asyncio.Event()
        self.gates = {
            name: ReceiverGate(settings.max_in_flight_per_receiver, settings.backoff_max_s)
            for name in clients
        }

    async def dispatch_due(self) -> list[asyncio.Task[None]]:
        """Starts a delivery for every due group not already being delivered; returns them."""
        now = self.clock()
        started = []
        for group in await self.store.pending_groups(list(self.clients)):
            key = (group.receiver, group.group_key)
            if key in self.inflight or now < due_at(group):
                continue
            task = asyncio.create_task(self._deliver(group, now), name=f"deliver {group.group_key}")
            self.inflight[key] = task
            task.add_done_callback(self._forget(key))
            started.append(task)
        return started

    def _forget(self, key: tuple[str, str]) -> Callable[[asyncio.Task[None]], None]:
        def forget(_task: asyncio.Task[None]) -> None:
            self.inflight.pop(key, None)

        return forget

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.dispatch_due()
                self.metrics.pending.set(await self.store.pending_count(list(self.clients)))
            except Exception as exc:  # noqa: BLE001 - the database: the next tick tries again
                self.metrics.store_up.set(0)
                log.warning("looking for due alerts failed: %s", exc)
            try:
                await asyncio.wait_for(stop.wait(), self.settings.tick_s)
            except TimeoutError:
                pass

    async def finish_inflight(self) -> None:
        """At shutdown: a request in flight may end (within the request timeout) and be recorded,
        so a graceful restart does not send it again; a delivery waiting to retry stops there. What
        is not decided stays pending for the next start."""
        self.stopping.set()
        tasks = list(self.inflight.values())
        if tasks:
            await asyncio.wait(tasks, timeout=self.settings.timeout_s + 1)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _deliver(self, group: PendingGroup, now: datetime) -> None:
        try:
            await self._deliver_group(group, now)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - left pending; the next tick tries again
            self.metrics.store_up.set(0)
            log.exception("delivery to %s of %s interrupted (left pending)", group.receiver, group.group_key)

    async def _deliver_group(self, group: PendingGroup, now: datetime) -> None:
        receiver = group.receiver
        pending = await self.store.pending_alerts(receiver, group.group_key)
        silences = await self.store.active_silences(now)
        muted = [p.alert_id for p in pending if silenced_by(silences, p.alert, now) is not None]
        if muted:
            await self.store.mark_silenced(receiver, muted, now)
            self.metrics.silenced.labels(receiver).inc(len(muted))
        alerts = [p.alert for p in pending if p.alert_id not in set(muted)]
        if not alerts:
            return
        n = make_notification(receiver, group.group_key, alerts, repeat=group.last_sent_at is not None)
        client = self.clients[receiver]
        attempt = await self.store.attempts_so_far(receiver, n.alert_ids)
        s = self.settings
        while True:
            attempt += 1
            outcome = await self.gates[receiver].send(client, n)
            if outcome.delivered:
                status = "delivered"
            elif outcome.retryable and attempt < s.max_attempts:
                status = "retrying"
            else:
                status = "failed"
            await self.store.record_attempt(
                Attempt(
                    receiver,
                    n.alert_ids,
                    attempt,
                    n.id,
                    status,
                    outcome.http_code,
                    outcome.error,
                    self.clock(),
                )
            )
            self.metrics.store_up.set(1)
            if status == "delivered":
                self.metrics.delivered.labels(receiver).inc()
                self.metrics.alerts_delivered.labels(receiver).inc(len(alerts))
                self.metrics.grouped.labels(receiver).inc(len(alerts) - 1)
                self.metrics.last_delivery.labels(receiver).set(time.time())
                return
            if status == "failed":
                self.metrics.failed.labels(receiver).inc()
                log.warning(
                    "gave up on %s to %s after %d attempt(s): %s", n.id, receiver, attempt, outcome.error
                )
                return
            self.metrics.retried.labels(receiver).inc()
            try:  # the backoff, cut short by a shutdown (the alerts stay pending)
                wait = backoff_s(attempt, s.backoff_initial_s, s.backoff_max_s, outcome.retry_after_s)
                await asyncio.wait_for(self.stopping.wait(), wait)
                return
            except TimeoutError:
                pass
