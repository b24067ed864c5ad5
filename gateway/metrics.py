"""Prometheus metrics of the gateway, in a registry of its own (several gateways can live in one
process in tests), served on the gateway's port at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.clients = Gauge("obm_gateway_clients", "Connected clients (after authentication)", registry=r)
        self.subscriptions = Gauge(
            "obm_gateway_subscriptions", "Subscribed (channel, pattern) pairs over all clients", registry=r
        )
        self.records_in = Counter(
            "obm_gateway_records_in", "Conforming records read from Kafka", ["channel"], registry=r
        )
        # kind: sinks.decoding.contract.RejectKind value; the sinks already sent such records to the DLQ.
        self.records_skipped = Counter(
            "obm_gateway_records_skipped", "Records that break the topic contract, not relayed",
            ["channel", "kind"], registry=r,
        )  # fmt: skip
        self.messages_out = Counter(
            "obm_gateway_messages_out",
            "Messages written to clients (updates, snapshots, replies)",
            registry=r,
        )
        self.conflated = Counter(
            "obm_gateway_conflated", "Updates replaced by a newer one of the same key before a slow client got them",
            ["channel"], registry=r,
        )  # fmt: skip
        # reason: a protocol.CloseCode name in lower case (slow_consumer, unauthorized, ...).
        self.disconnects = Counter(
            "obm_gateway_disconnects", "Connections the gateway closed or refused, by close code",
            ["reason"], registry=r,
        )  # fmt: skip
        self.dropped = Counter(
            "obm_gateway_dropped", "Messages not delivered because their client was disconnected as too slow",
            registry=r,
        )  # fmt: skip
        self.lag = Gauge(
            "obm_gateway_lag_seconds", "Age of the newest record relayed (now minus its Kafka timestamp)",
            ["channel"], registry=r,
        )  # fmt: skip

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (tests, bench); 0.0 when absent."""
        got = self.registry.get_sample_value(name, labels)
        return got if got is not None else 0.0
