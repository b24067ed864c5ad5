"""Prometheus metrics of a sink: throughput (records stored per topic), rejects per topic and reason
kind, batch latency, retries and consumer lag. Each sink owns its registry, so several sinks can live in one process
(tests) without clashing on the global one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class SinkMetrics:
    def __init__(self, sink: str, registry: CollectorRegistry | None = None) -> None:
        self.sink = sink
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.records_stored = Counter(
            "obm_sink_records_stored",
            "Records stored (rate() of it is the throughput)",
            ["sink", "topic"],
            registry=r,
        )
        # reason: a sinks.decoding.contract.RejectKind value (a small fixed set, not free text).
        self.records_rejected = Counter(
            "obm_sink_records_rejected", "Records not stored, by reason kind (each sent to the DLQ once)",
            ["sink", "topic", "reason"], registry=r,
        )  # fmt: skip
        self.records_consumed = Counter(
            "obm_sink_records_consumed", "Records read from Kafka", ["sink", "topic"], registry=r
        )
        self.batches = Counter("obm_sink_batches", "Batches written and committed", ["sink"], registry=r)
        self.batch_seconds = Histogram(
            "obm_sink_batch_write_seconds",
            "Time to write one batch (the transaction or the pipeline)",
            ["sink"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.batch_records = Histogram(
            "obm_sink_batch_records", "Records per batch", ["sink"],
            buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000, 50000), registry=r,
        )  # fmt: skip
        self.write_retries = Counter(
            "obm_sink_write_retries",
            "Failed write attempts retried with backoff (store down)",
            ["sink"],
            registry=r,
        )
        self.commit_failures = Counter(
            "obm_sink_commit_failures",
            "Offset commits that failed (records are read again)",
            ["sink"],
            registry=r,
        )
        self.lag = Gauge(
            "obm_sink_consumer_lag", "High watermark minus committed offset", ["sink", "topic", "partition"],
            registry=r,
        )  # fmt: skip
        self.last_commit = Gauge(
            "obm_sink_last_commit_timestamp_seconds",
            "Unix time of the last offset commit",
            ["sink"],
            registry=r,
        )
        self.store_up = Gauge(
            "obm_sink_store_up", "1 when the last write reached the store", ["sink"], registry=r
        )

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        """Expose /metrics on `port` (0 disables it)."""
        if port:
            start_http_server(port, addr=addr, registry=self.registry)

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (tests, bench); 0.0 when absent."""
        got = self.registry.get_sample_value(name, {"sink": self.sink, **labels})
        return got if got is not None else 0.0
