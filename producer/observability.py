"""The producer's HTTP endpoint: /healthz, /readyz, /books (every book's state as JSON, what
`obm status` reads) and Prometheus /metrics.

The hot path only bumps plain integer attributes (a prometheus_client Counter.inc takes a lock
and costs more than parsing a level); this collector reads them when Prometheus scrapes, through
the feed's `book_reports()` for everything per book.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from producer.book_states import BOOKS_PATH, BookState
from producer.circuit_breaker import CircuitState
from producer.feed import LAG_BUCKETS_MS

if TYPE_CHECKING:
    from producer.service import ProducerService

CONNECTION_STATES = ("idle", "connecting", "connected", "backoff", "circuit_open", "closed")


class ProducerCollector(Collector):
    def __init__(self, service: ProducerService) -> None:
        self.service = service

    def collect(self) -> Iterator[object]:  # type: ignore[override]
        svc = self.service
        feed, pub = svc.feed, svc.publisher
        ex = svc.spec.id

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"obm_producer_{name}", doc, value=value)

        yield counter("frames_in", "WebSocket frames received", feed.frames_in)
        yield counter("records_out", "orderbook.raw records handed to Kafka", pub.produced)
        yield counter("records_delivered", "records acknowledged by the broker", pub.delivered)
        yield counter("delivery_errors", "records the broker did not accept", pub.delivery_errors)
        yield counter("dlq", "frames sent to orderbook.dlq", feed.dlq)
        yield counter(
            "invalid_records", "records that failed the schema (sent to the DLQ)", pub.invalid_records
        )
        yield counter(
            "backpressure_waits", "times the Kafka queue was full and we waited", pub.backpressure_waits
        )
        yield GaugeMetricFamily(
            "obm_producer_kafka_queue", "records waiting in the local Kafka queue", value=pub.queue_length()
        )

        reports = feed.book_reports()
        per_book = {
            "resyncs": (
                "book resyncs after a gap, a buffer overflow, a checksum mismatch or a shallow book",
                lambda r: r.counters.resyncs,
            ),
            "gaps": ("sequence gaps seen while live", lambda r: r.counters.gaps),
            "crossed_books": (
                "records whose book was crossed (best bid >= best ask)",
                lambda r: r.counters.crossed,
            ),
            "syncs": ("snapshots applied", lambda r: r.counters.syncs),
            "stale_snapshots": (
                "snapshots older than the stream, fetched again",
                lambda r: r.counters.stale_snapshots,
            ),
            "stale_events": ("events already covered by the book", lambda r: r.counters.stale_events),
            "buffer_overflows": (
                "buffers dropped while waiting for a snapshot",
                lambda r: r.counters.buffer_overflows,
            ),
            "checksum_mismatches": (
                "books whose checksum differed from the venue's (resynced)",
                lambda r: r.counters.checksum_mismatches,
            ),
            "depth_resyncs": (
                "resyncs of books from a bounded snapshot that knew fewer levels completely than published",
                lambda r: r.counters.depth_resyncs,
            ),
            "book_restarts": ("restarts of the book's sync task after it died", lambda r: r.status.restarts),
            "symbol_records": ("records published per symbol", lambda r: r.records),
            "symbol_dlq": ("frames of this symbol sent to the DLQ", lambda r: r.dlq),
        }
        for name, (doc, get) in per_book.items():
            fam = CounterMetricFamily(f"obm_producer_{name}", doc, labels=["exchange", "symbol"])
            for r in reports:
                fam.add_metric([ex, r.status.symbol], get(r))
            yield fam
        if svc.trades is not None:  # ProducerSettings.trades (producer/trades.py)
            trade_counts = svc.trades.counts()
            for name, doc in (
                ("published", "trades published to trades.raw"),
                ("duplicates", "repeated trades dropped (a trade id already published)"),
                ("dlq", "trade frames sent to orderbook.dlq"),
            ):
                fam = CounterMetricFamily(f"obm_producer_trades_{name}", doc, labels=["exchange", "symbol"])
                for symbol, counts in trade_counts.items():
                    fam.add_metric([ex, symbol], counts[name])
                yield fam
        live = GaugeMetricFamily(
            "obm_producer_book_live", "1 when the book is in sync", labels=["exchange", "symbol"]
        )
        state = GaugeMetricFamily(
            "obm_producer_book_state",
            "1 for the book's current state (live, syncing, resyncing, failed)",
            labels=["exchange", "symbol", "state"],
        )
        since = GaugeMetricFamily(
            "obm_producer_book_state_since_seconds",
            "Unix time the book entered its current state",
            labels=["exchange", "symbol"],
        )
        for r in reports:
            symbol, current = r.status.symbol, r.status.state
            live.add_metric([ex, symbol], 1.0 if current is BookState.LIVE else 0.0)
            for book_state in BookState:
                state.add_metric([ex, symbol, book_state.value], 1.0 if book_state is current else 0.0)
            since.add_metric([ex, symbol], r.status.since)
        yield live
        yield state
        yield since

        conn_state = GaugeMetricFamily(
            "obm_producer_connection_state",
            "1 for the connection's current state",
            labels=["connection", "state"],
        )
        reconnects = CounterMetricFamily(
            "obm_producer_reconnects", "reconnects per connection", labels=["connection"]
        )
        conn_frames = CounterMetricFamily(
            "obm_producer_connection_frames", "frames per connection", labels=["connection"]
        )
        for conn in svc.connections:
            for st in CONNECTION_STATES:
                conn_state.add_metric([conn.name, st], 1.0 if conn.state == st else 0.0)
            reconnects.add_metric([conn.name], conn.reconnects)
            conn_frames.add_metric([conn.name], conn.frames)
        yield conn_state
        yield reconnects
        yield conn_frames

        circuit = GaugeMetricFamily(
            "obm_producer_circuit_state",
            "1 for the circuit breaker's current state (closed, open, half_open), per connection and REST",
            labels=["exchange", "breaker", "state"],
        )
        opens = CounterMetricFamily(
            "obm_producer_circuit_opens", "times the circuit breaker opened", labels=["exchange", "breaker"]
        )
        failures = GaugeMetricFamily(
            "obm_producer_circuit_failures",
            "consecutive failures seen by the breaker",
            labels=["exchange", "breaker"],
        )
        for breaker in svc.breakers():
            for st in CircuitState:
                circuit.add_metric([ex, breaker.name, st.value], 1.0 if breaker.state is st else 0.0)
            opens.add_metric([ex, breaker.name], breaker.opens)
            failures.add_metric([ex, breaker.name], breaker.failures)
        yield circuit
        yield opens
        yield failures

        if svc.snapshots is not None:
            limiter = svc.snapshots.limiter
            yield counter("snapshot_requests", "REST depth snapshot requests", svc.snapshots.requests)
            yield counter(
                "snapshot_failures",
                "snapshot requests that failed (the book's sync task is restarted)",
                svc.snapshots.failures,
            )
            yield counter("rest_rate_limited", "HTTP 429 answers", limiter.rate_limited)
            yield counter("rest_banned", "HTTP 418 answers", limiter.banned)
            yield GaugeMetricFamily(
                "obm_producer_rest_weight_used", "request weight used this minute", value=limiter.used
            )

        buckets = []
        acc = 0
        for bound, n in zip(LAG_BUCKETS_MS, feed.lag_buckets, strict=False):
            acc += n
            buckets.append((str(float(bound)), acc))
        buckets.append(("+Inf", acc + feed.lag_buckets[-1]))
        yield HistogramMetricFamily(
            "obm_producer_lag_ms",
            "end-to-end lag: receive time minus exchange event time (ms)",
            buckets=buckets,
            sum_value=feed.lag_sum_ms,
        )


def build_app(service: ProducerService) -> web.Application:
    registry = CollectorRegistry()
    registry.register(ProducerCollector(service))

    async def healthz(_: web.Request) -> web.Response:
        ok = not service.failed
        return web.json_response({"ok": ok, "error": service.failed}, status=200 if ok else 500)

    async def readyz(_: web.Request) -> web.Response:
        conns = {c.name: c.state for c in service.connections}
        books = {r.status.symbol: r.status.state is BookState.LIVE for r in service.feed.book_reports()}
        ready = bool(conns) and all(st == "connected" for st in conns.values()) and all(books.values())
        return web.json_response(
            {"ready": ready, "connections": conns, "books": books}, status=200 if ready else 503
        )

    async def books(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "books": [r.as_json() for r in service.feed.book_reports()],
                "circuits": [b.report().as_json() for b in service.breakers()],
            }
        )

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Content-Type": "text/plain; version=0.0.4"},
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get(BOOKS_PATH, books)
    return app
