"""One producer process: settings -> exchange spec, symbol check, connections, feed, Kafka, HTTP.

`run_producer` is what `python -m producer` and `obm produce` call; it returns when the stop
event is set (SIGTERM/SIGINT) or the service fails, after closing the connections and flushing
Kafka. The service fails, with one line saying why, when a symbol is unknown to the venue (at
start, from its exchangeInfo, or later, from a snapshot request), when the venue cannot be asked
at start, or when one of its tasks (a connection, the Kafka poller) dies: nothing keeps running
while publishing nothing.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web

from config import KafkaSettings, ProducerSettings
from obm.runtime.signals import run_until_signalled
from producer.circuit_breaker import CircuitBreaker
from producer.connection import ConnectionTuning, StreamConnection, shard_streams
from producer.exchanges import ExchangeSpec, resolve
from producer.exchanges.spec import Instrument
from producer.feed import BookFeed
from producer.message_feed import MessageBookFeed
from producer.publisher import RecordPublisher, topic_names
from producer.ratelimit import WeightLimiter
from producer.rest import RestError, SnapshotClient, UnknownSymbol, check_symbols
from producer.stream_feed import StreamBookFeed
from producer.trades import TradeFeed, trade_stream
from schemas import Topic, load_schema

log = logging.getLogger(__name__)
# The record's own rule (orderbook.raw's `symbol` pattern): a symbol it refuses is refused at start.
SYMBOL_RE = re.compile(load_schema(Topic.RAW)["properties"]["symbol"]["pattern"])


@dataclass
class ProducerOptions:
    """Knobs beyond ProducerSettings (tests and benchmarks turn them; defaults suit live use)."""

    raw_topic: str | None = None
    dlq_topic: str | None = None
    streams_per_connection: int = 200
    partial_depth: int = 20
    validate_every: int = 100
    check_symbols: bool = True
    snapshot_limit: int | None = None
    weight_safety: float = 0.8
    tuning: ConnectionTuning = field(default_factory=ConnectionTuning)
    http: bool = True  # serve /healthz, /readyz, /metrics on ProducerSettings.metrics_port
    # diff-depth hot path: native (compiled, producer/native), python (reference), auto (native when
    # built); None: ProducerSettings.engine
    engine: str | None = None
    # librdkafka settings over the publisher's own (benchmarks: e.g. {"linger.ms": 20} trades
    # latency for ~40% less producer CPU per record, docs/benchmarks.md)
    kafka_config: dict[str, Any] = field(default_factory=dict)


def configured_venue(settings: ProducerSettings) -> tuple[ExchangeSpec, list[str]]:
    """The exchange module and the symbols `settings` ask for. Raises UnknownExchange (a
    ValueError) or UnknownSymbol for names that cannot be symbols."""
    spec = resolve(settings.exchange, settings.market)
    symbols = [s.upper() for s in settings.symbols]
    bad = [s for s in symbols if not SYMBOL_RE.match(s)]
    if bad or not symbols:
        raise UnknownSymbol(f"invalid symbol name(s): {bad or 'none configured'}")
    return spec, symbols


def _rest_session(tuning: ConnectionTuning) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=30, sock_connect=tuning.connect_timeout_s)
    )


async def check_venue(settings: ProducerSettings, tuning: ConnectionTuning) -> dict[str, Instrument]:
    """Every symbol of `settings` listed and trading on its venue (exchangeInfo), asked with a
    session of its own: `run_producer` calls it before any Kafka client exists. Returns the
    listing of the symbols, which the service then uses without asking again."""
    spec, symbols = configured_venue(settings)
    async with _rest_session(tuning) as session:
        return await check_symbols(spec, session, settings.rest_url or spec.rest_url, symbols)


class ProducerService:
    def __init__(
        self,
        settings: ProducerSettings,
        kafka: KafkaSettings,
        options: ProducerOptions | None = None,
        *,
        instruments: dict[str, Instrument] | None = None,
    ):
        """`instruments`: the symbols' listing already read (run_producer's check), else None."""
        self.settings = settings
        self.instruments = instruments
        self.kafka = kafka
        self.options = options or ProducerOptions()
        self.spec, self.symbols = configured_venue(settings)
        self.ws_url = settings.ws_url or self.spec.ws_url
        self.rest_url = settings.rest_url or self.spec.rest_url
        raw_topic, dlq_topic = topic_names(kafka, self.options.raw_topic, self.options.dlq_topic)
        self.publisher = RecordPublisher(
            kafka,
            raw_topic,
            dlq_topic,
            queue_max_messages=settings.queue_max_messages,
            client_id=f"obm-producer-{self.spec.id}",
            validate_every=self.options.validate_every,
            extra_config=self.options.kafka_config,
        )
        self.snapshots: SnapshotClient | None = None
        limit = self.options.snapshot_limit or self.spec.snapshot_limit
        if not self.spec.snapshot_in_stream and settings.stream_kind == "diff" and limit < settings.depth:
            # A book from a full snapshot of fewer levels than it publishes would resync at once
            # and forever (BookSync: a bounded snapshot must know the published depth completely).
            raise ValueError(f"snapshot limit {limit} is below the published depth {settings.depth}")
        feed_class: type[BookFeed] = BookFeed  # Binance's combined streams
        if self.spec.snapshot_in_stream:
            feed_class = StreamBookFeed
        elif self.spec.parse_message is not None:  # the venue's own frames, REST snapshots
            feed_class = MessageBookFeed
        self.feed = feed_class(
            self.spec,
            self.symbols,
            self.publisher,
            self._fetch_snapshot,
            depth=settings.depth,
            stream_kind=settings.stream_kind,
            partial_depth=self.options.partial_depth,
            engine=self.options.engine or settings.engine,
            on_fatal=self._book_lost,
        )
        self.trades = self._trade_feed(settings, feed_class)
        streams = self.feed.streams + (self.trades.streams if self.trades is not None else [])
        shards = shard_streams(
            streams, self.options.streams_per_connection, self.spec.max_streams_per_connection
        )
        subscribe = self.spec.subscribe
        self.connections: list[StreamConnection] = [
            StreamConnection(
                f"{self.spec.id}-{i}",
                self.spec.stream_url(self.ws_url, shard),
                self.feed.on_frame,
                self.options.tuning,
                on_open=partial(subscribe, shard) if subscribe is not None else (),
                ping=self.spec.ping,
            )
            for i, shard in enumerate(shards)
        ]
        self._connection_of = {s: c for c, shard in zip(self.connections, shards, strict=True) for s in shard}
        self._shards = shards  # each connection subscribes its shard at every connect
        for conn in self.connections:
            conn.breaker = self._breaker(conn.name)
        self.rest_breaker = self._breaker(f"{self.spec.id}-rest")
        if isinstance(self.feed, StreamBookFeed):
            self.feed.resubscribe = self._resubscribe
        self.failed: str | None = None  # why the service stopped on its own (or could not flush)
        self.exit_code = 0
        self.http_port: int | None = None
        self._stop: asyncio.Event | None = None

    def _trade_feed(self, settings: ProducerSettings, feed_class: type[BookFeed]) -> TradeFeed | None:
        """The venue's trades on the book's connections when ProducerSettings.trades asks for them
        and the venue has a trade stream (producer/trades.py); otherwise None, said once."""
        if not settings.trades:
            return None
        stream = trade_stream(self.spec.id)
        # Binance-style combined streams hand trade frames on by stream name; the venues' own
        # message shapes (stream/message feeds) need the trade stream to recognize its pushes.
        if stream is None or (feed_class is BookFeed) != (stream.route is None):
            log.warning("trades: %s has no trade stream yet (producer/trades.py); books only", self.spec.id)
            return None
        trades = TradeFeed(self.spec.id, self.spec.market, self.symbols, stream, self.publisher)
        self.feed.trades = trades
        return trades

    def _fail(self, reason: str, exit_code: int = 1) -> None:
        """Stop the service for `reason` (the first reason wins)."""
        if self.failed is None:
            self.failed, self.exit_code = reason, exit_code
        if self._stop is not None:
            self._stop.set()

    def _book_lost(self, reason: str) -> None:
        """A book that cannot be kept (the venue no longer knows its symbol): a configuration error."""
        self._fail(reason, exit_code=2)

    def _watch(self, task: asyncio.Task[None], what: str) -> None:
        """A task of the service that ends by an exception stops the service with the reason."""

        def done(t: asyncio.Task[None]) -> None:
            if not t.cancelled() and t.exception() is not None:
                exc = t.exception()
                log.error("%s died", what, exc_info=exc)
                self._fail(f"{what} died: {type(exc).__name__}: {exc}")

        task.add_done_callback(done)

    async def _resubscribe(self, stream: str) -> None:
        """Make the venue send `stream`'s book again (venues with the book in the stream)."""
        assert self.spec.resubscribe is not None
        await self._connection_of[stream].send(self.spec.resubscribe(stream))

    def _breaker(self, name: str) -> CircuitBreaker:
        s = self.settings
        return CircuitBreaker(
            name, s.circuit_failures, s.circuit_open_base_s, max(s.circuit_open_max_s, s.circuit_open_base_s)
        )

    def breakers(self) -> list[CircuitBreaker]:
        """Every circuit breaker of this producer: one per connection, one for REST."""
        return [c.breaker for c in self.connections if c.breaker is not None] + [self.rest_breaker]

    def _use_venue_names(self, instruments: dict[str, Instrument]) -> None:
        """Streams named by the venue's listing (`Instrument.venue_name`, Hyperliquid's spot
        `@107`) replace the symbol-named ones before any connection opens."""
        renames = {
            self.spec.diff_channel(symbol): self.spec.diff_channel(inst.venue_name)
            for symbol, inst in instruments.items()
            if inst.venue_name is not None
        }
        if self.trades is not None:  # trade streams renamed by TradeFeed.use_instrument
            renames.update(self.trades.renames)
        renames = {old: new for old, new in renames.items() if old != new}
        if not renames:
            return
        if not isinstance(self.feed, StreamBookFeed):
            raise TypeError(f"{self.spec.id}: streams renamed by the listing need a stream-book feed")
        self.feed.rename_streams(renames)
        for shard in self._shards:
            shard[:] = [renames.get(stream, stream) for stream in shard]
        self._connection_of = {renames.get(s, s): c for s, c in self._connection_of.items()}

    async def _fetch_snapshot(self, symbol: str):  # noqa: ANN202 - BookSnapshot
        assert self.snapshots is not None
        return await self.snapshots.fetch(symbol)

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        """Until `stop` is set or the service fails (`failed` says why). Raises UnknownSymbol or
        RestError when the symbols cannot be checked at start, before anything runs."""
        self._stop = stop
        runner: web.AppRunner | None = None
        async with _rest_session(self.options.tuning) as session:
            instruments = self.instruments
            if instruments is None and (self.options.check_symbols or self.spec.needs_instruments):
                # Books in contracts need their contract sizes before the first record.
                instruments = await check_symbols(self.spec, session, self.rest_url, self.symbols)
            if instruments is not None:
                # Every record carries the normalized instrument from its book's first on.
                for symbol, state in self.feed.symbols.items():
                    state.sync.use_instrument(instruments[symbol])
                    if self.trades is not None:
                        self.trades.use_instrument(instruments[symbol])
                self._use_venue_names(instruments)
            limiter = WeightLimiter(self.spec.weight_limit_1m, self.options.weight_safety)
            self.snapshots = SnapshotClient(
                self.spec, session, self.rest_url, limiter, limit=self.options.snapshot_limit
            )
            self.snapshots.breaker = self.rest_breaker
            if self.options.http:
                from producer.observability import build_app

                runner = web.AppRunner(build_app(self), access_log=None)
                await runner.setup()
                site = web.TCPSite(runner, "0.0.0.0", self.settings.metrics_port)
                await site.start()
                self.http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            tasks = [asyncio.create_task(c.run(session)) for c in self.connections]
            for conn, task in zip(self.connections, tasks, strict=True):
                self._watch(task, f"connection {conn.name}")
            poller = asyncio.create_task(self._poll_kafka(stop))
            self._watch(poller, "Kafka poller")
            if ready is not None:
                ready.set()
            log.info(
                "producing %s %s for %s via %s",
                self.spec.id,
                self.settings.stream_kind,
                ",".join(self.symbols),
                self.ws_url,
            )
            try:
                await stop.wait()
            finally:
                for conn in self.connections:
                    conn.stop()
                await asyncio.wait(tasks, timeout=10)
                for task in tasks:
                    task.cancel()
                await self.feed.stop()
                poller.cancel()
                remaining = await asyncio.get_running_loop().run_in_executor(None, self.publisher.flush, 15.0)
                if remaining:
                    self._fail(f"{remaining} records undelivered at shutdown")
                if runner is not None:
                    await runner.cleanup()
        log.info(
            "producer stopped: %d records produced, %d delivered",
            self.publisher.produced,
            self.publisher.delivered,
        )

    async def _poll_kafka(self, stop: asyncio.Event) -> None:
        """Serve delivery callbacks when the feed is quiet (the feed polls while busy)."""
        while not stop.is_set():
            self.publisher.poll(0)
            await asyncio.sleep(0.05)


def run_producer(
    settings: ProducerSettings, kafka: KafkaSettings, options: ProducerOptions | None = None
) -> int:
    """Run until SIGTERM/SIGINT or a failure: 0 on a clean stop, 2 on a configuration error (an
    invalid or unknown symbol, at start or later; an unknown exchange), 1 on any other failure.
    The reason of a non-zero exit is the last line logged. The symbols are checked first, before
    any Kafka client exists: a refused start has nothing to publish and nothing else to say."""
    options = options or ProducerOptions()
    instruments = None
    try:
        if options.check_symbols:
            instruments = asyncio.run(check_venue(settings, options.tuning))
            options = replace(options, check_symbols=False)
        service = ProducerService(settings, kafka, options, instruments=instruments)
    except (UnknownSymbol, ValueError) as exc:
        log.error("%s", exc)
        return 2
    except RestError as exc:
        log.error("%s", exc)
        return 1

    async def serve(stop: asyncio.Event) -> int:
        await service.run(stop)
        if service.failed:
            log.error("producer stopped: %s", service.failed)
        return service.exit_code

    return run_until_signalled(serve)
