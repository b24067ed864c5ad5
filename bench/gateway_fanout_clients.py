"""The reading clients of bench/gateway_fanout.py, run in their own processes (`--client-procs`):
each subscribes its keys on the metrics channel and measures every update from its Kafka timestamp
(and the sequence numbers per key, for gaps). Two kinds: the websockets library's asyncio client,
and RawReader, a bare asyncio protocol (handshake, unmasked frames parsed where they arrive, every
message decoded and checked the same way) that costs ~40 % less CPU, which the clients otherwise
take from the machine the measured path runs on. Also the stalled client (subscribed to
everything, never reading) and the event loop and GC watchers of a client process."""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import os
import socket
import time
from functools import partial
from multiprocessing.connection import Connection

import numpy as np
import orjson
from websockets.asyncio.client import ClientConnection, connect


class Stats:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.ts_ms: list[float] = []  # the Kafka timestamp of each measured update
        self.updates = 0
        self.gaps = 0
        self.closed: dict[int, int] = {}


class Readers:
    """What the reading clients of one process share: their figures, and the subscription count
    that tells the parent when they are all subscribed."""

    def __init__(self, total: int) -> None:
        self.stats = Stats()
        self.subscribed = asyncio.Event()
        self.count = 0
        self.total = total
        self.measuring_from = float("inf")  # Kafka timestamps (ms) from here on are measured

    def on_message(self, text: str | bytes, last: dict[str, int]) -> None:
        msg = orjson.loads(text)
        kind = msg["type"]
        if kind == "update":
            stats = self.stats
            key, seq = msg["key"], msg["seq"]
            if key in last and seq != last[key] + 1:
                stats.gaps += 1
            last[key] = seq
            if msg["ts"] >= self.measuring_from:
                stats.latencies_ms.append(time.time() * 1000 - msg["ts"])
                stats.ts_ms.append(msg["ts"])
                stats.updates += 1
        elif kind == "subscribed":
            self.count += 1
            if self.count == self.total:
                self.subscribed.set()

    def closed(self, code: int) -> None:
        self.stats.closed[code] = self.stats.closed.get(code, 0) + 1


def subscribe_message(keys: list[str]) -> bytes:
    return orjson.dumps({"type": "subscribe", "channel": "metrics", "keys": keys})


async def reader(url: str, keys: list[str], readers: Readers) -> None:
    """A reading client on the websockets library (its asyncio client)."""
    async with connect(url, open_timeout=120, max_queue=None, compression=None) as ws:
        await ws.send(subscribe_message(keys).decode())
        last: dict[str, int] = {}
        try:
            async for text in ws:
                readers.on_message(text, last)
        except Exception as exc:  # noqa: BLE001 - a closed client is counted, not fatal to the bench
            readers.closed(getattr(getattr(exc, "rcvd", None), "code", -1))


_WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One frame from a client (RFC 6455 5.2: FIN, masked with a random key)."""
    n, mask = len(payload), os.urandom(4)
    head = (
        bytes((0x80 | opcode, 0x80 | n)) if n < 126 else bytes((0x80 | opcode, 0xFE)) + n.to_bytes(2, "big")
    )
    keystream = (mask * (n // 4 + 1))[:n]
    return (
        head + mask + (int.from_bytes(payload, "big") ^ int.from_bytes(keystream, "big")).to_bytes(n, "big")
    )


class RawReader(asyncio.Protocol):
    """A reading client as a bare asyncio protocol (`--client raw`): the opening handshake, then
    each frame parsed where the bytes arrive (the gateway's frames are unmasked and never
    fragmented), each message decoded in full (orjson) and timed, pings answered, a close frame
    counted by its code. It takes 7-9 µs of CPU per message where the websockets client takes
    12-13 µs (its frame parser, an assembler queue and a task switch per message; 100 clients,
    30,000 messages on loopback, 2026-12-06): on a 2-core machine the gateway and the broker
    share, the clients' CPU is taken from the path they measure."""

    def __init__(self, host: str, keys: list[str], readers: Readers) -> None:
        self.host, self.keys, self.readers = host, keys, readers
        self.buf = bytearray()
        self.open = False
        self.stopping = False
        self.last: dict[str, int] = {}
        self.accept = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16))
        self.accept = base64.b64encode(hashlib.sha1(key + _WS_GUID).digest())  # noqa: S324 - RFC 6455
        transport.write(b"GET / HTTP/1.1\r\nHost: " + self.host.encode() + b"\r\nUpgrade: websocket\r\n"
                        b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
                        b"Sec-WebSocket-Version: 13\r\n\r\n")  # fmt: skip

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end])
            if not head.startswith(b"HTTP/1.1 101") or self.accept not in head:
                raise RuntimeError(f"handshake refused: {head[:200]!r}")
            del buf[: end + 4]
            self.open = True
            self._send(0x1, subscribe_message(self.keys))
        pos, size = 0, len(buf)
        while size - pos >= 2:
            opcode, length, start = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            if size - start < length:
                break
            payload = bytes(buf[start : start + length])
            pos = start + length
            if opcode == 0x1:
                self.readers.on_message(payload, self.last)
            elif opcode == 0x9:  # ping
                self._send(0xA, payload)
            elif opcode == 0x8:  # close
                self.readers.closed(int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005)
                self.stopping = True
                self._send(0x8, payload[:2])
                assert self.transport is not None
                self.transport.close()
                return
        del buf[:pos]

    def _send(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.write(client_frame(opcode, payload))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.stopping:
            self.readers.closed(-1)

    def stop(self) -> None:
        self.stopping = True
        if self.transport is not None:
            self.transport.abort()


LOOP_TICK_S = 0.01


async def watch_loop(stalls: list[tuple[float, float]]) -> None:
    """(wall clock, ms) of every time this process's event loop ran a 10 ms timer more than 5 ms
    late: the client side's own stalls (its CPU share, its GC), which delay every read."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + LOOP_TICK_S
        await asyncio.sleep(LOOP_TICK_S)
        late = loop.time() - due
        if late > 0.005:
            stalls.append((time.time(), late * 1000))


def watch_gc(pauses: list[tuple[float, float, int]]) -> None:
    """(wall clock at the end, ms, generation) of every cyclic GC pass of this process."""
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append((time.time(), (time.perf_counter() - started[0]) * 1000, info["generation"]))

    gc.callbacks.append(callback)


async def _clients(url: str, key_sets: list[list[str]], conn: Connection, client: str) -> None:
    """One client process: connects and subscribes its clients, says so, measures from the
    Kafka timestamp the parent sends, and sends its figures back when told to stop."""
    readers = Readers(len(key_sets))
    stalls: list[tuple[float, float]] = []
    pauses: list[tuple[float, float, int]] = []
    watcher = asyncio.create_task(watch_loop(stalls))
    watch_gc(pauses)
    host, port = url.removeprefix("ws://").rsplit(":", 1)
    loop = asyncio.get_running_loop()
    tasks, raw = [], []
    for n, keys in enumerate(key_sets):
        if client == "raw":
            _t, protocol = await loop.create_connection(partial(RawReader, f"{host}:{port}", keys, readers),
                                                        host, int(port))  # fmt: skip
            raw.append(protocol)
        else:
            tasks.append(asyncio.create_task(reader(url, keys, readers)))
        if n % 50 == 49:
            await asyncio.sleep(0.05)  # handshakes in waves, not all at once
    await asyncio.wait_for(readers.subscribed.wait(), timeout=600)
    conn.send("subscribed")
    readers.measuring_from = await asyncio.to_thread(conn.recv)
    await asyncio.to_thread(conn.recv)  # stop
    for protocol in raw:
        protocol.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    watcher.cancel()
    stats = readers.stats
    conn.send((np.array(stats.latencies_ms), stats.updates, stats.gaps, stats.closed, np.array(stats.ts_ms),
               stalls, pauses))  # fmt: skip


def client_process(url: str, key_sets: list[list[str]], conn: Connection, client: str) -> None:
    asyncio.run(_clients(url, key_sets, conn, client))


async def stalled_client(url: str) -> ClientConnection:
    """Subscribed to everything, never reads: a small receive buffer and a one-frame queue."""
    host, port = url.removeprefix("ws://").split(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    ws = await connect(url, sock=sock, max_queue=1, compression=None, ping_interval=None)
    await ws.send(orjson.dumps({"type": "subscribe", "channel": "metrics", "keys": ["*"]}).decode())
    return ws
