"""One WebSocket connection carrying a shard of combined streams, kept alive forever.

Binance closes every connection after 24 h, announces maintenance with `serverShutdown`, and
pings every few minutes (aiohttp answers pings itself). This class reconnects: immediately a
little before the 24 h cut and on `serverShutdown`, otherwise after an exponential backoff with
full jitter (reset once a connection has delivered frames); an idle watchdog closes a connection
that has gone silent without closing. Books survive a reconnect: the sync procedure either chains
the new connection's first events onto them or resyncs the affected symbols.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from producer.circuit_breaker import CircuitBreaker, CircuitState, describe_failure
from producer.feed import SERVER_SHUTDOWN
from producer.ratelimit import full_jitter

log = logging.getLogger(__name__)


@dataclass
class ConnectionTuning:
    idle_timeout_s: float = 30.0
    heartbeat_s: float | None = 20.0  # our own pings; None leaves liveness to the idle watchdog
    max_age_s: float = 24 * 3600 - 15 * 60
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 60.0
    connect_timeout_s: float = 10.0


def shard_streams(streams: list[str], per_connection: int, hard_limit: int) -> list[list[str]]:
    """Split streams over connections, at most min(per_connection, hard_limit) each."""
    size = max(1, min(per_connection, hard_limit))
    return [streams[i : i + size] for i in range(0, len(streams), size)]


class StreamConnection:
    def __init__(
        self,
        name: str,
        url: str,
        on_frame: Callable[[str | bytes, int], str | None],
        tuning: ConnectionTuning,
        on_open: Sequence[str] | Callable[[], Sequence[str]] = (),
        ping: tuple[str | Callable[[], str], float, str | None] | None = None,
    ) -> None:
        """`on_open`: text messages sent after every connect (venues that subscribe by message),
        or a function making them at each connect; `ping`: (text or a function making it,
        interval s, answer) for venues with an application-level keep-alive. Functions are for
        venues whose messages carry the time they are sent (Gate.io)."""
        self.name = name
        self.url = url
        self._on_frame = on_frame
        self.tuning = tuning
        self._on_open = on_open if callable(on_open) else list(on_open)
        self._ping = ping
        # Set by the service: connect attempts wait while it is open (producer/circuit_breaker.py).
        self.breaker: CircuitBreaker | None = None
        self.state = "idle"  # idle | connecting | connected | backoff | circuit_open | closed
        self.frames = 0
        self.connects = 0
        self.reconnects = 0
        self.reconnect_reasons: dict[str, int] = {}
        self.idle_checks = 0  # watchdog ticks (tests wait on it rather than on the clock)
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._close_reason: str | None = None
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True
        self._request_close("stopped")

    async def send(self, messages: Sequence[str]) -> None:
        """Send text messages on the current socket (ConnectionError when there is none: the
        next connect subscribes everything anyway)."""
        ws = self._ws
        if ws is None or ws.closed:
            raise ConnectionError(f"{self.name}: not connected")
        for text in messages:
            await ws.send_str(text)

    def _request_close(self, reason: str) -> None:
        """Close the current socket; `run` then reconnects (unless stopping)."""
        if self._ws is not None and not self._ws.closed:
            self._close_reason = reason
            asyncio.get_running_loop().create_task(self._ws.close())

    async def run(self, session: aiohttp.ClientSession) -> None:
        attempt = 0
        while not self._stopping:
            await self._wait_for_breaker()
            if self._stopping:
                break
            self.state = "connecting"
            try:
                ws = await session.ws_connect(
                    self.url,
                    autoping=True,
                    heartbeat=self.tuning.heartbeat_s,
                    max_msg_size=0,
                    timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                    compress=0,
                )
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                if self._stopping:
                    break
                if self.breaker is not None:
                    self.breaker.on_failure(f"connect failed: {describe_failure(exc)}")
                self.state = "backoff"
                delay = full_jitter(attempt, self.tuning.backoff_base_s, self.tuning.backoff_cap_s)
                attempt += 1
                log.warning("%s: connect failed (%s), retry in %.2fs", self.name, exc, delay)
                await asyncio.sleep(delay)
                continue
            self.connects += 1
            if self.connects > 1:
                self.reconnects += 1
            self.state = "connected"
            self._ws = ws
            self._close_reason = None
            frames_before = self.frames
            try:
                for text in self._on_open() if callable(self._on_open) else self._on_open:
                    await ws.send_str(text)
            except (ConnectionError, RuntimeError) as exc:  # closed under us: _read sees why
                log.warning("%s: subscribing failed (%s)", self.name, exc)
            reason = await self._read(ws)
            self._ws = None
            self.reconnect_reasons[reason] = self.reconnect_reasons.get(reason, 0) + 1
            if self._stopping:
                break
            if self.frames > frames_before:
                attempt = 0  # it worked for a while: start the backoff over
                self._breaker_success()
            elif self.breaker is not None and reason not in ("max_age", SERVER_SHUTDOWN):
                self.breaker.on_failure(f"connection ended before any frame ({reason})")
            if reason in ("max_age", SERVER_SHUTDOWN):
                log.info("%s: planned reconnect (%s)", self.name, reason)
                continue
            self.state = "backoff"
            delay = full_jitter(attempt, self.tuning.backoff_base_s, self.tuning.backoff_cap_s)
            attempt += 1
            log.warning("%s: connection ended (%s), reconnect in %.2fs", self.name, reason, delay)
            await asyncio.sleep(delay)
        self.state = "closed"

    async def _wait_for_breaker(self) -> None:
        """While the breaker is open, wait (state circuit_open); in half-open this connect is the
        one probe. Checked at least every second, so stop() is honoured promptly."""
        if self.breaker is None:
            return
        while (delay := self.breaker.before_call()) > 0 and not self._stopping:
            self.state = "circuit_open"
            await asyncio.sleep(min(delay, 1.0))

    def _breaker_success(self) -> None:
        """Frames arrived: the connection works (closes a half-open breaker, resets the count)."""
        breaker = self.breaker
        if breaker is not None and (breaker.failures or breaker.state is not CircuitState.CLOSED):
            breaker.on_success()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> str:
        watchdog = asyncio.get_running_loop().create_task(self._watch(ws, time.monotonic()))
        pinger = asyncio.get_running_loop().create_task(self._keep_alive(ws)) if self._ping else None
        on_frame = self._on_frame
        time_ns = time.time_ns
        text = aiohttp.WSMsgType.TEXT
        binary = aiohttp.WSMsgType.BINARY
        reason = "closed by server"
        try:
            while True:
                msg = await ws.receive()
                if msg.type is text or msg.type is binary:
                    self.frames += 1
                    if on_frame(msg.data, time_ns()) == SERVER_SHUTDOWN:
                        reason = SERVER_SHUTDOWN
                        await ws.close()
                        break
                elif msg.type is aiohttp.WSMsgType.ERROR:
                    reason = f"error: {ws.exception()}"
                    break
                elif msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSED,
                ):
                    break
        finally:
            watchdog.cancel()
            if pinger is not None:
                pinger.cancel()
            if not ws.closed:
                await ws.close()
        return self._close_reason or reason

    async def _keep_alive(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """The venue's own ping (e.g. OKX's text "ping", answered "pong"), every interval."""
        assert self._ping is not None
        text, interval, _ = self._ping
        while not ws.closed:
            await asyncio.sleep(interval)
            try:
                await ws.send_str(text() if callable(text) else text)
            except (ConnectionError, RuntimeError):
                return

    async def _watch(self, ws: aiohttp.ClientWebSocketResponse, opened: float) -> None:
        """Idle watchdog and the 24-hour cut, on the monotonic clock (a wall-clock step must not
        fake or hide silence). Silence is the time since the frame counter last moved, as seen
        at each tick, so it fires after idle_timeout_s to idle_timeout_s + one tick of silence. A
        late wake-up of this task (a busy CPU) must not make a live connection look silent: before
        firing, it lets the loop poll the socket once more, so frames that arrived while this
        process was not running are counted first, whatever order the loop runs timers and reads
        in (asyncio reads first, libuv-based loops run timers first)."""
        idle = self.tuning.idle_timeout_s
        tick = max(0.05, min(1.0, idle / 4))
        frames_seen = self.frames
        last_progress = opened
        while not ws.closed:
            await asyncio.sleep(tick)
            self.idle_checks += 1
            now = time.monotonic()
            if self.frames != frames_seen:
                frames_seen = self.frames
                last_progress = now
                self._breaker_success()
            elif now - last_progress > idle:
                await asyncio.sleep(0.01)  # one more turn of the loop's I/O poll
                if self.frames != frames_seen:
                    frames_seen, last_progress = self.frames, time.monotonic()
                    continue
                log.warning("%s: no frame for %.1fs, reconnecting", self.name, now - last_progress)
                self._close_reason = "idle"
                await ws.close()
                return
            if now - opened > self.tuning.max_age_s:
                self._close_reason = "max_age"
                await ws.close()
                return
