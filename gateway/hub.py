"""The gateway's state and routing, all on the event loop (no locks): the latest value and
sequence number of every (channel, key) relayed since start, the connected clients and their
subscriptions, and the fan-out of each incoming record to the queues of the clients that want it.

An update is encoded and framed once and the same bytes are queued for every subscriber; the hub
notes which clients got something (`touched`) so the server writes each of them once per batch of
records instead of once per message. A client whose queue overflows is handed to `on_overflow`
(the server disconnects it as too slow) and no other client waits for it.

Routing is by index: exact keys map to their subscribers, and only clients with a wildcard pattern
on a channel are matched one by one; a record's route (who gets it) is cached per (channel, key)
until the subscriptions change."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from gateway.client_queue import ConflatingQueue
from gateway.fanin import Incoming
from gateway.metrics import GatewayMetrics
from gateway.patterns import KeyPattern
from gateway.protocol import Channel, Request, ack_message, snapshot_message, text_frame, update_message

ChannelKey = tuple[Channel, str]


class Client:
    """One connection's subscriptions and outgoing queue (of WebSocket frames); the server writes
    what is queued to its socket."""

    def __init__(self, identity: str, queue: ConflatingQueue) -> None:
        self.identity = identity
        self.queue = queue
        self.subscriptions: dict[tuple[Channel, KeyPattern], None] = {}
        self.blocked = False  # its socket's write buffer is full: the server waits for it to drain
        self.overflowed = False

    def wants(self, channel: Channel, key: str) -> bool:
        return any(c is channel and p.matches(key) for c, p in self.subscriptions)

    def has_wildcard(self, channel: Channel) -> bool:
        return any(c is channel and not p.exact for c, p in self.subscriptions)

    def offer(self, frame: bytes, conflate_key: ChannelKey | None = None) -> bool:
        if self.overflowed:
            return False
        if not self.queue.put(frame, conflate_key):
            self.overflowed = True
            return False
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
        self.touched: dict[Client, None] = {}  # clients with new messages, in order; the server drains it
        self._exact: dict[ChannelKey, dict[Client, None]] = {}  # subscribers of an exact key
        self._wild: dict[Channel, dict[Client, None]] = {c: {} for c in Channel}  # clients with a wildcard
        self._routes: dict[ChannelKey, list[Client]] = {}  # cache, cleared on any subscription change
        self._conflated = {c: metrics.conflated.labels(c.value) for c in Channel if c.conflatable}

    # -- clients ------------------------------------------------------------------------------
    def add(self, client: Client) -> None:
        self.clients.add(client)
        self.metrics.clients.set(len(self.clients))

    def remove(self, client: Client) -> None:
        if client in self.clients:
            self.clients.discard(client)
            self.metrics.subscriptions.dec(len(client.subscriptions))
            self.metrics.clients.set(len(self.clients))
            for channel, pattern in client.subscriptions:
                self._unindex(client, channel, pattern)
            self.touched.pop(client, None)
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
                self._index(client, channel, pattern)
                self.metrics.subscriptions.inc()
        self._routes.clear()
        matched = sorted(k for k in set(keys) | self.known_keys(channel)
                         if any(p.matches(k) for p in request.patterns))  # fmt: skip
        self._offer(client, text_frame(ack_message(request, matched, complete)))
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
                self._offer(client, text_frame(snapshot_message(channel, key, seq, records)))

    def unsubscribe(self, client: Client, request: Request) -> None:
        channel = request.channel
        for pattern in request.patterns:
            if (channel, pattern) in client.subscriptions:
                del client.subscriptions[(channel, pattern)]
                self._unindex(client, channel, pattern)
                self.metrics.subscriptions.dec()
        self._routes.clear()
        still = [k for k in self.known_keys(channel) if client.wants(channel, k)]
        gone = sorted(k for k in self.known_keys(channel)
                      if k not in still and any(p.matches(k) for p in request.patterns))  # fmt: skip
        self._offer(client, text_frame(ack_message(request, gone)))

    def reply(self, client: Client, message: bytes) -> None:
        """Queues a message for one client (an error reply)."""
        self._offer(client, text_frame(message))

    def _index(self, client: Client, channel: Channel, pattern: KeyPattern) -> None:
        if pattern.exact:
            self._exact.setdefault((channel, pattern.text), {})[client] = None
        else:
            self._wild[channel][client] = None

    def _unindex(self, client: Client, channel: Channel, pattern: KeyPattern) -> None:
        if pattern.exact:
            subscribers = self._exact.get((channel, pattern.text), {})
            subscribers.pop(client, None)
            if not subscribers:
                self._exact.pop((channel, pattern.text), None)
        elif not client.has_wildcard(channel):
            self._wild[channel].pop(client, None)

    # -- fan-out ------------------------------------------------------------------------------
    def dispatch(self, records: Sequence[Incoming]) -> None:
        """Numbers, remembers and queues a batch of records for their subscribers, in order; the
        metrics are updated once per batch and channel."""
        counts: dict[Channel, int] = {}
        newest: dict[Channel, int] = {}
        for rec in records:
            self._dispatch(rec)
            counts[rec.channel] = counts.get(rec.channel, 0) + 1
            newest[rec.channel] = max(newest.get(rec.channel, 0), rec.ts_ms)
        now = time.time()
        for channel, n in counts.items():
            self.metrics.records_in.labels(channel.value).inc(n)
            self.metrics.lag.labels(channel.value).set(max(0.0, now - newest[channel] / 1000))

    def _dispatch(self, rec: Incoming) -> None:
        channel, key, ts_ms, data = rec
        ck = (channel, key)
        state = self.latest.get(ck)
        if state is None:
            state = self.latest[ck] = _Latest()
        state.seq = seq = state.seq + 1
        state.records[data["interval"] if channel is Channel.BARS else ""] = data
        route = self._routes.get(ck)
        if route is None:
            route = self._routes[ck] = self._route(channel, key)
        if not route:
            return
        frame = text_frame(update_message(channel, key, seq, ts_ms, data))
        conflated = self._conflated.get(channel)
        if conflated is None:  # events: never replaced
            for client in route:
                self._offer(client, frame)
            return
        for client in route:
            before = client.queue.conflated
            self._offer(client, frame, ck)
            if client.queue.conflated != before:
                conflated.inc()

    def _route(self, channel: Channel, key: str) -> list[Client]:
        exact = self._exact.get((channel, key), {})
        wild = [c for c in self._wild[channel] if c not in exact and c.wants(channel, key)]
        return [*exact, *wild]

    def _offer(self, client: Client, frame: bytes, conflate_key: ChannelKey | None = None) -> None:
        if client.offer(frame, conflate_key):
            self.touched[client] = None
        elif client.overflowed:
            self.on_overflow(client)
