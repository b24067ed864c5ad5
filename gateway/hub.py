"""The gateway's state and routing, all on the event loop (no locks): the latest value and
sequence number of every (channel, key) relayed since start, the connected clients and their
subscriptions, and the fan-out of each incoming record to the queues of the clients that want it.

An update is encoded once and the same bytes are queued for every subscriber; a client whose
queue overflows is handed to `on_overflow` (the server disconnects it as too slow) and no other
client waits for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

from gateway.client_queue import ConflatingQueue
from gateway.fanin import Incoming
from gateway.metrics import GatewayMetrics
from gateway.patterns import KeyPattern
from gateway.protocol import Channel, Request, ack_message, snapshot_message, update_message

ChannelKey = tuple[Channel, str]


class Client:
    """One connection's subscriptions and outgoing queue; the server's writer task drains it."""

    def __init__(self, identity: str, queue: ConflatingQueue) -> None:
        self.identity = identity
        self.queue = queue
        self.subscriptions: dict[tuple[Channel, KeyPattern], None] = {}
        self.ready = asyncio.Event()  # set while the queue holds messages
        self.overflowed = False

    def wants(self, channel: Channel, key: str) -> bool:
        return any(c is channel and p.matches(key) for c, p in self.subscriptions)

    def offer(self, payload: bytes, conflate_key: ChannelKey | None = None) -> bool:
        if self.overflowed:
            return False
        if not self.queue.put(payload, conflate_key):
            self.overflowed = True
            return False
        self.ready.set()
        return True


class _Latest:
    """What the gateway relayed last for one (channel, key): its seq and the record(s)."""

    __slots__ = ("seq", "records")

    def __init__(self) -> None:
        self.seq = 0
        self.records: dict[str, Any] = {}  # bars: per interval; other channels: one entry


class Hub:
    def __init__(self, metrics: GatewayMetrics, on_overflow: Callable[[Client], None]) -> None:
        self.metrics = metrics
        self.on_overflow = on_overflow
        self.clients: set[Client] = set()
        self.latest: dict[ChannelKey, _Latest] = {}
        self._routes: dict[ChannelKey, list[Client]] = {}  # cache, cleared on any subscription change

    # -- clients ------------------------------------------------------------------------------
    def add(self, client: Client) -> None:
        self.clients.add(client)
        self.metrics.clients.set(len(self.clients))

    def remove(self, client: Client) -> None:
        if client in self.clients:
            self.clients.discard(client)
            self.metrics.subscriptions.dec(len(client.subscriptions))
            self.metrics.clients.set(len(self.clients))
            self._routes.clear()

    def known_keys(self, channel: Channel) -> set[str]:
        return {key for c, key in self.latest if c is channel}

    def subscribe(self, client: Client, request: Request, keys: Iterable[str],
                  from_redis: dict[str, list[Any]], complete: bool) -> None:  # fmt: skip
        """Registers the request's patterns, acks with the keys they match now, then queues one
        snapshot per key: the gateway's own latest value (exact with its seq) where it has one,
        else what Redis held (seq 0). Runs without awaiting, so no update slips in between."""
        channel = request.channel
        for pattern in request.patterns:
            if (channel, pattern) not in client.subscriptions:
                client.subscriptions[(channel, pattern)] = None
                self.metrics.subscriptions.inc()
        self._routes.clear()
        matched = sorted(k for k in set(keys) | self.known_keys(channel)
                         if any(p.matches(k) for p in request.patterns))  # fmt: skip
        client.offer(ack_message(request, matched, complete))
        for key in matched:
            own = self.latest.get((channel, key))
            if own is not None:
                records = [own.records[v] for v in sorted(own.records)]
                if channel is Channel.BARS:
                    records.sort(key=lambda bar: bar["window_start"])
                seq = own.seq
            else:
                records, seq = from_redis.get(key, []), 0
            if records:
                client.offer(snapshot_message(channel, key, seq, records))
        self._check(client)

    def unsubscribe(self, client: Client, request: Request) -> None:
        channel = request.channel
        for pattern in request.patterns:
            if (channel, pattern) in client.subscriptions:
                del client.subscriptions[(channel, pattern)]
                self.metrics.subscriptions.dec()
        self._routes.clear()
        still = [k for k in self.known_keys(channel) if client.wants(channel, k)]
        gone = sorted(k for k in self.known_keys(channel)
                      if k not in still and any(p.matches(k) for p in request.patterns))  # fmt: skip
        client.offer(ack_message(request, gone))
        self._check(client)

    # -- fan-out ------------------------------------------------------------------------------
    def dispatch(self, rec: Incoming) -> None:
        ck = (rec.channel, rec.key)
        state = self.latest.get(ck)
        if state is None:
            state = self.latest[ck] = _Latest()
        state.seq += 1
        state.records[rec.data["interval"] if rec.channel is Channel.BARS else ""] = rec.data
        self.metrics.lag.labels(rec.channel.value).set(max(0.0, time.time() - rec.ts_ms / 1000))
        self.metrics.records_in.labels(rec.channel.value).inc()
        route = self._routes.get(ck)
        if route is None:
            route = self._routes[ck] = [c for c in self.clients if c.wants(rec.channel, rec.key)]
        if not route:
            return
        payload = update_message(rec.channel, rec.key, state.seq, rec.ts_ms, rec.data)
        conflate_key = ck if rec.channel.conflatable else None
        for client in route:
            before = client.queue.conflated
            if not client.offer(payload, conflate_key):
                self._check(client)
            elif client.queue.conflated != before:
                self.metrics.conflated.labels(rec.channel.value).inc()

    def _check(self, client: Client) -> None:
        if client.overflowed:
            self.on_overflow(client)
