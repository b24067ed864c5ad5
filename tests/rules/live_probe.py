"""Waiting until the running rules job applies a rule change: a probe rule added last in a change
covers a book of its own; probe records (event time = now) go to that book until an alert of the
probe rule comes out. The rules topic has one partition, so the job has read every earlier change
too. Used by the live test and the pickup bench (bench/rules_pickup.py)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from confluent_kafka import Consumer

from config import KafkaSettings
from config.clients import consumer_config
from flink_jobs.user_rules import rule_id_of
from rules.store import RulesStore
from schemas import Topic, topic_name
from tests.flink.kafka_io import produce
from tests.rules.rule_walks import processed

PROBE_EXCHANGE = "probe"


class AlertReader:
    """Follows orderbook.alerts from its start (read_committed, as every reader of the project)."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.consumer = Consumer(
            consumer_config(kafka, f"test-{uuid.uuid4().hex}", {"auto.offset.reset": "earliest"})
        )
        self.consumer.subscribe([topic_name(Topic.ALERTS, kafka.topic_prefix)])
        self.alerts: list[dict[str, Any]] = []

    def poll(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            msg = self.consumer.poll(min(left, 0.2))
            if msg is not None and not msg.error():
                self.alerts.append(json.loads(msg.value()))

    def of_rule(self, rule_id: int) -> list[dict[str, Any]]:
        return [a for a in self.alerts if rule_id_of(a["alert_id"]) == rule_id]

    def close(self) -> None:
        self.consumer.close()


def add_probe(store: RulesStore, symbol: str, exchange: str = PROBE_EXCHANGE, by: str = "tests") -> int:
    """A rule that fires on the first record of the book with mid > 0 (every probe record)."""
    fields = {"name": f"probe {exchange}:{symbol}", "metric": "mid", "scope": f"{exchange}:{symbol}",
              "condition": ">", "threshold": 0, "cooldown_ms": 0}  # fmt: skip
    return store.add(fields, by).rule.rule_id


def wait_for_probe(
    kafka: KafkaSettings,
    reader: AlertReader,
    rule_id: int,
    symbol: str,
    exchange: str = PROBE_EXCHANGE,
    every_s: float = 0.25,
    timeout_s: float = 180,
) -> dict[str, Any]:
    """Send probe records (mid 1, event time now) to the book every `every_s` until the probe
    rule's alert arrives; returns it. Its window_start is the event time of the first probe record
    the job evaluated with the rule: when the change took effect."""
    deadline = time.monotonic() + timeout_s
    seq = 0
    while time.monotonic() < deadline:
        produce(kafka, Topic.PROCESSED, [processed(exchange, symbol, int(time.time() * 1000), seq, mid=1.0)])
        seq += 1
        reader.poll(every_s)
        found = reader.of_rule(rule_id)
        if found:
            return found[0]
    raise TimeoutError(f"no alert of probe rule {rule_id} on {exchange}:{symbol} in {timeout_s:.0f} s")
