"""Prometheus metrics of the gateway, in a registry of its own (several gateways can live in one
process in tests), served on the gateway's port at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Fine enough around the 50 ms target and the tails seen so far (0.3-1.6 s) to tell them apart.
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75,
                   1, 1.5, 2, 3, 5, 10, 30)  # fmt: skip
LOOP_TICK_S = 0.05


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
        # kind: sinks.decoding.contract.RejectKind value (the sinks already sent such records to the
        # DLQ), or fanin.DUPLICATE_ALERT: an alert id relayed already (an aborted transaction's, again).
        self.records_skipped = Counter(
            "obm_gateway_records_skipped", "Records not relayed: they break the topic contract, or repeat an alert",
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
        # Per batch of records (a few dozen at a time), so it costs nothing per record: an upper bound
        # of the relay latency of every record in the batch.
        self.relay = Histogram(
            "obm_gateway_relay_seconds",
            "Kafka timestamp of the oldest record of a relayed batch to the moment its messages were "
            "written to the subscribers' sockets",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # Where a relay latency comes from: the way to the gateway (producer, broker, the consumer's
        # fetch, the hand-off from the poll thread), and the event loop's stalls (anything that holds
        # the loop: a long batch, a GC pass, a starved process), measured by a timer that should
        # wake every LOOP_TICK_S.
        self.fetch = Histogram(
            "obm_gateway_fetch_seconds",
            "Kafka timestamp of the oldest record of a poll to the moment the poll's records reached "
            "the event loop",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        # The fetch split further, per poll: its part after the Kafka client handed the records
        # over (decoding and judging them, and for a poll that waited in a worker thread the switch
        # to the event loop), and, for a poll that had to wait for its records (the gateway was
        # idle, nothing was queued), their age when they came: the way in before the gateway alone.
        self.handoff = Histogram(
            "obm_gateway_handoff_seconds",
            "The moment a poll got its records from the Kafka client to the moment they reached the "
            "event loop (decoding and judging them; the thread switch after a wait)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.arrival = Histogram(
            "obm_gateway_arrival_seconds",
            "Kafka timestamp of the oldest record of a poll that waited for records (nothing was queued "
            "when it began) to the moment the Kafka client handed them over: producer, broker, fetch",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "obm_gateway_loop_lag_seconds",
            f"How late the event loop ran a timer due every {LOOP_TICK_S:g} s",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (tests, bench); 0.0 when absent."""
        got = self.registry.get_sample_value(name, labels)
        return got if got is not None else 0.0
