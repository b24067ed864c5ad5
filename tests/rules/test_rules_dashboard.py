"""The Rules page (dashboard/views/rules.py), run headless by Streamlit's AppTest against the
session's PostgreSQL and Kafka: a refused rule shows each field's problem, a valid one is stored
and published, listed, edited, disabled and deleted from the page, each change in the history."""

from __future__ import annotations

import psycopg
import pytest
from streamlit.testing.v1 import AppTest

from rules.publish import KafkaPublisher
from rules.store import RulesStore
from schemas import Topic
from tests.flink.kafka_io import isolated_kafka, read_all

pytestmark = pytest.mark.integration


def _page() -> None:
    from dashboard.views import rules

    rules.render()


def test_the_rules_page_adds_edits_disables_and_deletes(monkeypatch, pg_settings, kafka_settings) -> None:
    kafka = isolated_kafka(kafka_settings, (Topic.RULES,))
    env = {"OBM_PG_HOST": pg_settings.host, "OBM_PG_PORT": str(pg_settings.port), "OBM_PG_USER": pg_settings.user,
           "OBM_PG_PASSWORD": pg_settings.password.get_secret_value(), "OBM_PG_DATABASE": pg_settings.database,
           "OBM_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "OBM_KAFKA_TOPIC_PREFIX": kafka.topic_prefix}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    name = f"page rule {kafka.topic_prefix}"
    at = AppTest.from_function(_page, default_timeout=60).run()
    assert not at.exception

    at.text_input(key="rule_new_name").set_value(name)
    at.selectbox(key="rule_new_metric_orderbook.processed").set_value("imbalance_5")
    at.text_input(key="rule_new_scope").set_value("binance:ETH:USDT")
    at.text_input(key="rule_new_threshold").set_value("high")
    next(b for b in at.button if b.label == "Add rule").click().run()
    assert not at.exception
    problems = at.error[0].value
    assert "**scope**" in problems and "**threshold**" in problems and "not a number" in problems

    at.text_input(key="rule_new_scope").set_value("binance:ETH*")
    at.text_input(key="rule_new_threshold").set_value("0.6")
    at.text_input(key="rule_new_held").set_value("2s")
    next(b for b in at.button if b.label == "Add rule").click().run()
    assert not at.exception
    assert not at.error, at.error[0].value
    assert at.success[0].value.startswith("Added: rule ")
    with psycopg.connect(pg_settings.conninfo(), autocommit=True) as conn:
        [stored] = [s for s in RulesStore(conn, KafkaPublisher(kafka)).listed() if s.rule.name == name]
        rule_id = stored.rule.rule_id
        assert (stored.rule.metric, stored.rule.scope, stored.rule.threshold, stored.rule.min_duration_ms) == (
            "imbalance_5", "binance:ETH*", 0.6, 2000
        )  # fmt: skip
        at.run()
        assert any(f"`{rule_id}` **{name}**" in m.value for m in at.markdown)

        at.text_input(key=f"rule_edit_{rule_id}_threshold").set_value("0.7")
        next(b for b in at.button if b.label == "Save" and b.form_id == f"rule_edit_{rule_id}").click().run()
        assert not at.exception
        at.button(key=f"rule_toggle_{rule_id}").click().run()
        assert not at.exception
        at.button(key=f"rule_delete_{rule_id}").click().run()
        assert not at.exception
        assert not any(f"`{rule_id}` **{name}**" in m.value for m in at.markdown)

        history = RulesStore(conn, KafkaPublisher(kafka)).history(rule_id)

        # A rule on pair analytics: the source offers its metrics and takes a pair scope.
        at.selectbox(key="rule_new_source").set_value("pairs.analytics").run()
        assert "zscore" in at.selectbox(key="rule_new_metric_pairs.analytics").options
        at.text_input(key="rule_new_name").set_value(f"{name} pair")
        at.selectbox(key="rule_new_metric_pairs.analytics").set_value("zscore")
        at.text_input(key="rule_new_scope").set_value("binance:ETHUSDT/binance:BTCUSDT")
        at.text_input(key="rule_new_threshold").set_value("2")
        next(b for b in at.button if b.label == "Add rule").click().run()
        assert not at.exception and not at.error, at.error[0].value if at.error else ""
        [pair_rule] = [
            s.rule for s in RulesStore(conn, KafkaPublisher(kafka)).listed() if s.rule.name == f"{name} pair"
        ]
        assert (pair_rule.source, pair_rule.metric, pair_rule.scope) == (
            "pairs.analytics", "zscore", "binance:ETHUSDT/binance:BTCUSDT"
        )  # fmt: skip
    assert [(h["version"], h["action"]) for h in history] == [
        (1, "add"),
        (2, "edit"),
        (3, "disable"),
        (4, "delete"),
    ]
    assert history[1]["rule"]["threshold"] == 0.7 and history[0]["changed_by"].startswith("dashboard")
    published = [r for r in read_all(kafka, Topic.RULES) if r["rule_id"] == rule_id]
    assert [(r["version"], r["enabled"], r["deleted"]) for r in published] == [
        (1, True, False), (2, True, False), (3, False, False), (4, False, True)
    ]  # fmt: skip
