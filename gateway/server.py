"""The gateway service: a websockets (asyncio) server whose port also answers /healthz and
/metrics, and a fan-in task that relays the topics through the hub. After each small batch of
records the fan-in writes what the batch queued for each client to that client's socket in one
write, synchronously (no task, future or send() per message); only a client whose socket buffer
is full gets a task, which waits for it to drain (at most send_timeout_s) and writes the rest.
Refusals and slow clients are closed with a protocol.CloseCode."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from functools import partial
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as HttpRequest
from websockets.http11 import Response
from websockets.protocol import State

from config import KafkaSettings, RedisSettings
from config.settings import GatewaySettings
from gateway.auth import Access, Refusal
from gateway.client_queue import ConflatingQueue
from gateway.fanin import KafkaFanIn, top_levels
from gateway.hub import Client, Hub
from gateway.metrics import LOOP_TICK_S, GatewayMetrics
from gateway.protocol import Channel, CloseCode, ProtocolError, Request, error_message, parse_request
from gateway.snapshots import RedisSnapshots

log = logging.getLogger(__name__)

# No permessage-deflate: an update is encoded once and the same bytes go to every subscriber, while
# compression would cost a deflate per message and client (the fan-out's CPU, times the clients).
# Largest message a client may send (a subscribe with many keys fits many times over).
MAX_CLIENT_MESSAGE_BYTES = 64 * 1024
# Records dispatched between two turns of the event loop: enough that a turn costs little per
# record, few enough that sockets drain and a client that keeps up never has many messages queued.
RELAY_CHUNK = 32
# Messages joined into one socket write.
WRITE_BATCH = 256
# How long a close handshake may take before the connection is aborted.
CLOSE_TIMEOUT_S = 2.0


class Gateway:
    def __init__(self, settings: GatewaySettings, kafka: KafkaSettings, redis: RedisSettings,
                 metrics: GatewayMetrics | None = None) -> None:  # fmt: skip
        self.settings = settings
        self.kafka = kafka
        self.redis = redis
        self.metrics = metrics or GatewayMetrics()
        self.access = Access(settings)
        self.hub = Hub(self.metrics, self._disconnect_slow)
        self._snapshots = RedisSnapshots(redis, settings.redis_timeout_s)
        self.port = settings.port  # the bound port once started (settings.port 0: any free port)
        self._sockets: dict[Client, ServerConnection] = {}
        self._closing: set[Client] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._drains: dict[Client, asyncio.Task[None]] = {}  # clients whose socket buffer is full
        self._fanin_task: asyncio.Task[None] | None = None
        self._last_poll = 0.0

    # -- lifecycle ----------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, started: asyncio.Event | None = None) -> None:
        """Serves until `stop` is set; raises when reading Kafka fails (the process exits, and
        Compose or `obm up --foreground` starts it again), never because of a record or a client."""
        fanin = KafkaFanIn(self.kafka, self.settings.group_prefix, self.settings.book_levels)
        watch = asyncio.create_task(self._watch_loop(), name="gateway-loop-lag")
        try:
            await asyncio.to_thread(fanin.assign_at_end)
            self._fanin_task = asyncio.create_task(self._relay(fanin), name="gateway-fanin")
            async with serve(
                self._handle, self.settings.host, self.settings.port, process_request=self._http,
                max_size=MAX_CLIENT_MESSAGE_BYTES, close_timeout=CLOSE_TIMEOUT_S, compression=None,
            ) as server:  # fmt: skip
                self.port = _bound_port(server)
                log.info("gateway on ws://%s:%d (consumer %s); auth: %s", self.settings.host, self.port,
                         fanin.group_id, self.access.describe())  # fmt: skip
                if started is not None:
                    started.set()
                stopped = asyncio.create_task(stop.wait())
                await asyncio.wait({stopped, self._fanin_task}, return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                if self._fanin_task.done():
                    self._fanin_task.result()  # a failure of the fan-in propagates
        finally:
            watch.cancel()
            if self._fanin_task is not None:
                self._fanin_task.cancel()
                await asyncio.gather(self._fanin_task, return_exceptions=True)
            await asyncio.to_thread(fanin.close)
            self._snapshots.close()

    async def _relay(self, fanin: KafkaFanIn) -> None:
        metrics = self.metrics
        while True:
            # What is queued already is taken on the loop (no thread switch, no wake-up of a worker
            # that a busy machine may schedule late); only a wait for records goes to a worker thread.
            polled = fanin.poll(wait=False)
            if not polled.consumed:
                polled = await asyncio.to_thread(fanin.poll)
            self._last_poll = time.monotonic()
            if polled.records:
                oldest_s = min(rec.ts_ms for rec in polled.records) / 1000
                now = time.time()
                metrics.fetch.observe(max(0.0, now - oldest_s))
                metrics.handoff.observe(max(0.0, now - polled.consumed_s))
                if polled.waited:
                    metrics.arrival.observe(max(0.0, polled.consumed_s - oldest_s))
            for channel, kind in polled.skipped:
                metrics.records_skipped.labels(channel.value, kind).inc()
            records = polled.records
            for start in range(0, len(records), RELAY_CHUNK):
                chunk = records[start : start + RELAY_CHUNK]
                self.hub.dispatch(chunk)
                self._write_touched()
                oldest_ms = min(rec.ts_ms for rec in chunk)
                metrics.relay.observe(max(0.0, time.time() - oldest_ms / 1000))
                # Let the loop turn between chunks (sockets drain, requests are read): a burst read
                # in one poll reaches a client that keeps up as a stream of writes, not as a backlog
                # that would be conflated.
                await asyncio.sleep(0)
            if not records:
                await asyncio.sleep(0)  # a poll of skipped records only: still let the loop turn

    async def _watch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LOOP_TICK_S
            await asyncio.sleep(LOOP_TICK_S)
            self.metrics.loop_lag.observe(max(0.0, loop.time() - due))

    # -- HTTP: health and metrics ---------------------------------------------------------------
    def healthy(self) -> bool:
        task = self._fanin_task
        return task is not None and not task.done() and time.monotonic() - self._last_poll < 30

    def _http(self, connection: ServerConnection, request: HttpRequest) -> Response | None:
        if request.path == "/healthz":
            ok = self.healthy()
            body = orjson.dumps({
                "status": "ok" if ok else "down", "clients": len(self.hub.clients),
                "keys": len(self.hub.latest), "auth": self.access.describe(),
            })  # fmt: skip
            return _response(200 if ok else 503, body, "application/json")
        if request.path == "/metrics":
            return _response(200, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST)
        return None  # anything else is a WebSocket handshake

    # -- connections --------------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        headers = ws.request.headers if ws.request is not None else Headers()
        identity = self.access.identify(headers)
        if isinstance(identity, Refusal):
            await self._refuse(ws, identity)
            return
        refusal = self.access.acquire(identity)
        if refusal is not None:
            await self._refuse(ws, refusal)
            return
        s = self.settings
        sock = ws.transport.get_extra_info("socket")
        if s.client_send_buffer_bytes and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, s.client_send_buffer_bytes)
        client = Client(
            identity, ConflatingQueue(s.client_queue_max, min(s.conflate_above, s.client_queue_max))
        )
        self._sockets[client] = ws
        self.hub.add(client)
        try:
            async for text in ws:
                await self._on_message(client, text)
                self._write_touched()
        except ConnectionClosed:
            pass
        finally:
            drain = self._drains.pop(client, None)
            if drain is not None:
                drain.cancel()
            self.hub.remove(client)
            self.access.release(identity)
            self._sockets.pop(client, None)
            self._closing.discard(client)

    async def _refuse(self, ws: ServerConnection, refusal: Refusal) -> None:
        self.metrics.disconnects.labels(refusal.code.name.lower()).inc()
        await ws.close(refusal.code, refusal.reason)

    async def _on_message(self, client: Client, text: str | bytes) -> None:
        try:
            request = parse_request(text)
            if request.action == "subscribe":
                await self._subscribe(client, request)
            else:
                self.hub.unsubscribe(client, request)
        except ProtocolError as exc:
            self.hub.reply(client, error_message(exc, _request_id(text)))

    async def _subscribe(self, client: Client, request: Request) -> None:
        new = {p for p in request.patterns if (request.channel, p) not in client.subscriptions}
        limit = self.settings.max_subscriptions_per_connection
        if len(client.subscriptions) + len(new) > limit:
            raise ProtocolError("too_many_subscriptions", f"at most {limit} subscriptions per connection")
        keys = {p.text for p in request.patterns if p.exact}
        from_redis: dict[str, list[Any]] = {}
        complete = True
        try:
            if any(not p.exact for p in request.patterns):
                known = await asyncio.to_thread(self._snapshots.known_keys)
                keys |= {k for k in known if any(p.matches(k) for p in request.patterns)}
            missing = sorted(k for k in keys if (request.channel, k) not in self.hub.latest)
            if missing:
                from_redis = await asyncio.to_thread(self._snapshots.latest, request.channel, missing)
        except RedisSnapshots.errors as exc:
            log.warning("snapshots from Redis unavailable: %s", exc)
            complete = False
        if request.channel is Channel.BOOK:
            levels = self.settings.book_levels
            from_redis = {k: [top_levels(r, levels) for r in recs] for k, recs in from_redis.items()}
        self.hub.subscribe(client, request, keys, from_redis, complete)

    def _write_touched(self) -> None:
        touched = self.hub.touched
        if not touched:
            return
        self.hub.touched = {}
        written = 0
        for client in touched:
            written += self._write(client)
        if written:
            self.metrics.messages_out.inc(written)

    def _write(self, client: Client) -> int:
        """Writes what is queued for a client to its socket, WRITE_BATCH frames per write, until the
        queue is empty or the socket's buffer is above websockets' write limit; then a drain task
        waits for the client and the rest stays queued (where conflation applies). Returns the
        number of messages written."""
        ws = self._sockets.get(client)
        if client.blocked or ws is None or client in self._closing or ws.protocol.state is not State.OPEN:
            return 0
        transport = ws.transport
        if transport.is_closing():
            return 0
        _low, high = transport.get_write_buffer_limits()
        queue, written = client.queue, 0
        while queue:
            frames = queue.pop_many(WRITE_BATCH)
            transport.write(frames[0] if len(frames) == 1 else b"".join(frames))
            written += len(frames)
            if transport.get_write_buffer_size() > high:
                client.blocked = True
                task = asyncio.get_running_loop().create_task(self._drain(client, ws))
                self._drains[client] = task
                task.add_done_callback(partial(self._drain_done, client))
                break
        return written

    def _drain_done(self, client: Client, task: asyncio.Task[None]) -> None:
        if self._drains.get(client) is task:  # not a newer drain of the same client
            del self._drains[client]

    async def _drain(self, client: Client, ws: ServerConnection) -> None:
        """Waits (websockets' flow control) until the client's socket takes what was written; a
        client that takes nothing for send_timeout_s is disconnected as too slow."""
        try:
            async with asyncio.timeout(self.settings.send_timeout_s):
                await ws.drain()
        except TimeoutError:
            self._disconnect_slow(client)
            return
        except (ConnectionClosed, OSError):
            return
        client.blocked = False
        written = self._write(client)
        if written:
            self.metrics.messages_out.inc(written)

    def _disconnect_slow(self, client: Client) -> None:
        """Closes a client that cannot keep up (queue overflow or a stalled send): it stops
        receiving at once, its pending messages are counted as dropped, and the close (which may
        wait for a socket that does not drain) runs in a task of its own."""
        ws = self._sockets.get(client)
        if ws is None or client in self._closing:
            return
        self._closing.add(client)
        self.hub.remove(client)
        self.metrics.disconnects.labels(CloseCode.SLOW_CONSUMER.name.lower()).inc()
        self.metrics.dropped.inc(len(client.queue))
        task = asyncio.get_running_loop().create_task(self._close_slow(ws))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_slow(self, ws: ServerConnection) -> None:
        """websockets' close() first waits for the socket to take the close frame, without a
        timeout (its close_timeout starts after that): a client that stopped reading would keep
        its connection, and the buffers behind it, until a keepalive ping gave up. After
        CLOSE_TIMEOUT_S the connection is aborted."""
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await ws.close(CloseCode.SLOW_CONSUMER, "the client cannot keep up with its subscriptions")
        except TimeoutError:
            ws.transport.abort()


def _bound_port(server: Server) -> int:
    for sock in server.sockets:
        return int(sock.getsockname()[1])
    raise RuntimeError("the gateway's server has no socket")


def _response(status: int, body: bytes, content_type: str) -> Response:
    reason = {200: "OK", 503: "Service Unavailable"}[status]
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return Response(status, reason, headers, body)


def _request_id(text: str | bytes) -> Any:
    try:
        msg = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return msg.get("id") if isinstance(msg, dict) else None
