"""User rules on pair analytics, changed while the `rules_pairs` job runs (real Kafka, Flink and
PostgreSQL, one job submission): the job reads pairs.analytics from Kafka, a rule added through the
store applies without a redeploy, each alert equals the Python reference of the rules in force and
says which rule fired (rule_id, rule_name, rule_version), with the pair's y leg as its symbol."""

from __future__ import annotations

import json
import time
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer

from config import KafkaSettings
from config.clients import producer_config
from flink_jobs.lifecycle import cancel_job, submit_job
from flink_jobs.user_rules import PAIR_MARKET, rule_id_of
from obm.operator.topics_command import create_topics
from rules.publish import KafkaPublisher
from rules.store import RulesStore
from schemas import Topic, topic_name, validator_for
from tests.flink.kafka_io import isolated_kafka
from tests.rules.live_probe import AlertReader
from tests.rules.reference_rules import as_expected, reference_rule_alerts
from tests.rules.rule_walks import pairs_walk

pytestmark = pytest.mark.integration

PAIRS = Topic.PAIRS.value


def _produce(kafka: KafkaSettings, records: list[dict[str, Any]]) -> None:
    """pairs.analytics records keyed by their pair, as the pairs job writes them."""
    producer = Producer(producer_config(kafka, {"linger.ms": 5}))
    for rec in records:
        producer.produce(
            topic_name(Topic.PAIRS, kafka.topic_prefix), json.dumps(rec).encode(), key=rec["pair"]
        )
    assert producer.flush(30) == 0


def _probe(store: RulesStore, kafka: KafkaSettings, reader: AlertReader, tag: str) -> None:
    """A pair rule of its own, added last: once its alert comes out, the job applies every earlier
    change (the rules topic has one partition)."""
    pair = f"probe:{tag}/probe:XUSDT"
    rule_id = store.add({"name": f"probe {tag}", "source": PAIRS, "metric": "points", "scope": pair,
                         "condition": ">", "threshold": 0, "cooldown_ms": 0}, "tests").rule.rule_id  # fmt: skip
    record = pairs_walk(1, seed=0)[0]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        _produce(kafka, [{**record, "pair": pair, "y": pair.split("/")[0], "x": "probe:XUSDT",
                          "event_time": int(time.time() * 1000)}])  # fmt: skip
        reader.poll(0.25)
        if reader.of_rule(rule_id):
            return
    raise TimeoutError(f"no alert of the probe rule {rule_id} in 180 s")


def _alerts_of(reader: AlertReader, rule_ids: set[int], count: int) -> list[dict[str, Any]]:
    for _ in range(600):
        got = [a for a in reader.alerts if rule_id_of(a["alert_id"]) in rule_ids]
        if len(got) >= count:
            break
        reader.poll(0.3)
    return got


def test_a_pair_rule_added_live_applies_and_every_alert_names_its_rule(
    kafka_settings, flink_settings, pg_settings
):
    kafka = isolated_kafka(kafka_settings, (Topic.PAIRS, Topic.ALERTS))
    create_topics(kafka, [topic_name(Topic.RULES, kafka.topic_prefix)], None, {})
    conn = psycopg.connect(pg_settings.conninfo(), autocommit=True)
    store = RulesStore(conn, KafkaPublisher(kafka))
    now = int(time.time() * 1000)
    stretched = store.add({"name": "stretched", "source": PAIRS, "metric": "zscore", "scope": "binance:ETH*/*",
                           "condition": "abs >", "threshold": 1.5, "min_duration_ms": "2s", "cooldown_ms": "3s"},
                          "ann")  # fmt: skip
    reader = AlertReader(kafka)
    job_id = submit_job("rules_pairs", flink=flink_settings, kafka=kafka)
    try:
        first = pairs_walk(150, seed=4, t0=now - 400_000)
        _produce(kafka, first)
        expected1 = reference_rule_alerts(first, [stretched.record()], PAIRS)
        assert expected1, "phase 1 must raise alerts"
        got1 = _alerts_of(reader, {stretched.rule.rule_id}, len(expected1))
        assert sorted(as_expected(a, stretched.rule.rule_id) for a in got1) == expected1

        # a rule added while the job runs, on every pair
        cointegrated = store.add({"name": "cointegrated", "source": PAIRS, "metric": "adf_pvalue", "scope": "all",
                                  "condition": "<", "threshold": 0.01, "severity": "high", "cooldown_ms": 0},
                                 "bob")  # fmt: skip
        _probe(store, kafka, reader, "PROBE2")
        second = pairs_walk(150, seed=5, t0=now - 200_000)
        _produce(kafka, second)
        rules = [stretched.record(), cointegrated.record()]
        expected = reference_rule_alerts(first + second, [stretched.record()], PAIRS) + reference_rule_alerts(
            second, [cointegrated.record()], PAIRS
        )
        assert {e[0] for e in reference_rule_alerts(second, rules, PAIRS)} == {
            stretched.rule.rule_id, cointegrated.rule.rule_id
        }  # fmt: skip
        ids = {stretched.rule.rule_id, cointegrated.rule.rule_id}
        got = _alerts_of(reader, ids, len(expected))
    finally:
        cancel_job(flink_settings, job_id)
        reader.close()
        conn.close()
    assert sorted(as_expected(a, rule_id_of(a["alert_id"]) or 0) for a in got) == sorted(expected)
    validate = validator_for(Topic.ALERTS)
    names = {stretched.rule.rule_id: "stretched", cointegrated.rule.rule_id: "cointegrated"}
    for alert in got:
        validate(alert)
        assert (alert["rule_id"], alert["rule_name"], alert["rule_version"]) == (
            rule_id_of(alert["alert_id"]), names[alert["rule_id"]], 1
        )  # fmt: skip
        assert alert["market"] == PAIR_MARKET and alert["alert_type"] == "user_rule"
        pair = alert["alert_id"].split(":", 2)[2].rsplit(":", 2)[0]
        assert pair.split("/")[0] == f"{alert['exchange']}:{alert['symbol']}"
        assert alert["message"].startswith(f'{pair} rule {alert["rule_id"]} "{names[alert["rule_id"]]}": ')
