"""Prometheus metrics of the notifier, in a registry of its own (several notifiers can live in one
process in tests), served at /metrics beside /healthz."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.alerts_in = Counter("obm_notify_alerts_in", "Alerts read from orderbook.alerts", registry=r)
        # kind: sinks.decoding.contract.RejectKind value; the sinks already sent such records to the DLQ.
        self.alerts_skipped = Counter(
            "obm_notify_alerts_skipped", "Records of orderbook.alerts that break the contract, not delivered",
            ["kind"], registry=r,
        )  # fmt: skip
        self.unrouted = Counter(
            "obm_notify_alerts_unrouted", "Alerts no route matched (delivered nowhere)", registry=r
        )
        self.delivered = Counter(
            "obm_notify_delivered", "Messages a receiver accepted (2xx)", ["receiver"], registry=r
        )
        self.alerts_delivered = Counter(
            "obm_notify_alerts_delivered",
            "Alerts in the messages a receiver accepted",
            ["receiver"],
            registry=r,
        )
        self.failed = Counter(
            "obm_notify_failed", "Messages given up on (a permanent error, or every attempt failed)",
            ["receiver"], registry=r,
        )  # fmt: skip
        self.retried = Counter(
            "obm_notify_retried",
            "Failed attempts that will be retried after a backoff",
            ["receiver"],
            registry=r,
        )
        self.silenced = Counter(
            "obm_notify_silenced", "Alerts not delivered because a silence matched", ["receiver"], registry=r
        )
        # An alert that went out in one message with others (a burst, or a repeat of an ongoing
        # condition): alerts minus messages.
        self.grouped = Counter(
            "obm_notify_grouped", "Alerts delivered in a message together with an earlier alert of their group",
            ["receiver"], registry=r,
        )  # fmt: skip
        self.pending = Gauge(
            "obm_notify_pending",
            "Alerts waiting for their group window, repeat interval or a retry",
            registry=r,
        )
        self.lag = Gauge(
            "obm_notify_consumer_lag", "High watermark minus committed offset of orderbook.alerts",
            ["partition"], registry=r,
        )  # fmt: skip
        self.last_delivery = Gauge(
            "obm_notify_last_delivery_timestamp_seconds", "Unix time of the last accepted message",
            ["receiver"], registry=r,
        )  # fmt: skip
        self.store_up = Gauge(
            "obm_notify_store_up", "1 when the last database operation succeeded", registry=r
        )

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (tests); 0.0 when absent."""
        got = self.registry.get_sample_value(name, labels)
        return got if got is not None else 0.0
