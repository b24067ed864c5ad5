"""User rules changed while the rules job runs (real Kafka, Flink and PostgreSQL, one job
submission): rules added, edited, disabled and deleted through the store change the alerts the
job emits, with no redeploy, and each phase's alerts equal the Python reference of the rules in
force. The store keeps every version in its history and publishes each to rules.changes."""

from __future__ import annotations

import time

import psycopg
import pytest

from flink_jobs.lifecycle import cancel_job, submit_job
from flink_jobs.user_rules import rule_id_of
from obm.operator.topics_command import create_topics
from rules.publish import KafkaPublisher
from rules.store import RulesStore
from schemas import Topic, topic_name, validator_for
from tests.flink.kafka_io import isolated_kafka, produce, read_all
from tests.rules.live_probe import AlertReader, add_probe, wait_for_probe
from tests.rules.reference_rules import as_expected, reference_rule_alerts
from tests.rules.rule_walks import walk

pytestmark = pytest.mark.integration

DATA = ("binance", "ETHUSDT")


def _data(seed: int, start: int) -> list[dict]:
    return [r for r in walk(600, seed=seed, t0=start) if (r["exchange"], r["symbol"]) == DATA]


def _expected(records: list[dict], stored: list) -> list[tuple]:
    return reference_rule_alerts(records, [s.record() for s in stored])


def _wait_for(reader: AlertReader, rule_ids: set[int], count: int) -> list[tuple]:
    """The alerts of `rule_ids` on the data book once `count` have arrived (more would fail the
    comparison the caller makes)."""
    for _ in range(600):
        got = [
            a
            for a in reader.alerts
            if (a["exchange"], a["symbol"]) == DATA and rule_id_of(a["alert_id"]) in rule_ids
        ]
        if len(got) >= count:
            break
        reader.poll(0.3)
    return sorted(as_expected(a, rule_id_of(a["alert_id"]) or 0) for a in got)


def test_rule_changes_apply_to_the_running_job(kafka_settings, flink_settings, pg_settings):
    kafka = isolated_kafka(kafka_settings, (Topic.PROCESSED, Topic.ALERTS))
    create_topics(kafka, [topic_name(Topic.RULES, kafka.topic_prefix)], None, {})
    conn = psycopg.connect(pg_settings.conninfo(), autocommit=True)
    store = RulesStore(conn, KafkaPublisher(kafka))
    now = int(time.time() * 1000) - 300_000
    wide = store.add({"name": "wide", "metric": "spread_bps", "scope": "binance:ETH*", "condition": ">",
                      "threshold": 3.0, "min_duration_ms": "200ms", "cooldown_ms": "1s", "severity": "high"}, "ann")  # fmt: skip
    reader = AlertReader(kafka)
    job_id = submit_job("rules", flink=flink_settings, kafka=kafka)
    try:
        # phase 1: one rule
        first = _data(1, now)
        produce(kafka, Topic.PROCESSED, first)
        expected1 = _expected(first, [wide])
        assert expected1, "phase 1 must raise alerts"
        assert _wait_for(reader, {wide.rule.rule_id}, len(expected1)) == expected1

        # phase 2: the rule edited (its episodes start afresh) and a new one added, live
        wide = store.edit(wide.rule.rule_id, {"threshold": 2.5, "cooldown_ms": 0}, "bob")
        flip = store.add({"name": "sell side", "metric": "imbalance_5", "scope": "all",
                          "condition": "crosses below", "threshold": -0.3}, "bob")  # fmt: skip
        wait_for_probe(kafka, reader, add_probe(store, "PROBE2"), "PROBE2")
        second = _data(2, now + 120_000)
        produce(kafka, Topic.PROCESSED, second)
        expected2 = _expected(second, [wide, flip])
        assert {e[0] for e in expected2} == {wide.rule.rule_id, flip.rule.rule_id}
        got = _wait_for(reader, {wide.rule.rule_id, flip.rule.rule_id}, len(expected1) + len(expected2))
        assert [g for g in got if g not in expected1] == expected2

        # phase 3: one disabled, one deleted: no more alerts from either
        store.set_enabled(wide.rule.rule_id, False, "cyd")
        store.delete(flip.rule.rule_id, "cyd")
        wait_for_probe(kafka, reader, add_probe(store, "PROBE3"), "PROBE3")
        third = _data(3, now + 240_000)
        assert _expected(third, [wide, flip]), "phase 3's data must be data the two rules would fire on"
        produce(kafka, Topic.PROCESSED, third)
        # a probe on the data book itself: its alert comes after every record of phase 3
        last = add_probe(store, DATA[1], DATA[0])
        wait_for_probe(kafka, reader, last, DATA[1], DATA[0])
    finally:
        cancel_job(flink_settings, job_id)
        reader.close()

    alerts = read_all(kafka, Topic.ALERTS)
    validate = validator_for(Topic.ALERTS)
    for alert in alerts:
        alert.pop("_key")
        validate(alert)
    on_data = [
        a for a in alerts if (a["exchange"], a["symbol"]) == DATA and rule_id_of(a["alert_id"]) != last
    ]
    assert len(on_data) == len(expected1) + len(expected2), (
        "phase 3 raised alerts of a disabled or deleted rule"
    )
    history = store.history(wide.rule.rule_id)
    assert [(h["version"], h["action"], h["changed_by"]) for h in history] == [
        (1, "add", "ann"), (2, "edit", "bob"), (3, "disable", "cyd")
    ]  # fmt: skip
    published = [r for r in read_all(kafka, Topic.RULES) if r["rule_id"] == wide.rule.rule_id]
    assert [r["version"] for r in published] == [1, 2, 3] and published[-1]["enabled"] is False
    conn.close()
