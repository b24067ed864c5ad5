"""The Rules page in a real browser (Debian's headless Chromium, Playwright) against `streamlit run
dashboard/app.py` on the session's PostgreSQL and Kafka: a rule on pair analytics is entered
through the page (the source chosen first offers its metrics, the pair scope is taken), stored
with its source and published; the page is saved as a screenshot to test-artifacts/ for a human
to judge the design."""

from __future__ import annotations

import psycopg
import pytest

from rules.publish import KafkaPublisher
from rules.store import RulesStore
from schemas import Topic
from tests.dashboard.browser import ARTIFACTS, choose, dashboard_page
from tests.flink.kafka_io import isolated_kafka, read_all

pytestmark = pytest.mark.browser


def test_a_pair_rule_entered_in_chromium(monkeypatch, pg_settings, redis_settings, kafka_settings):
    kafka = isolated_kafka(kafka_settings, (Topic.RULES,))
    monkeypatch.setenv("OBM_KAFKA_BOOTSTRAP_SERVERS", kafka.bootstrap_servers)
    monkeypatch.setenv("OBM_KAFKA_TOPIC_PREFIX", kafka.topic_prefix)
    name = f"stretched {kafka.topic_prefix}"
    viewport = {"width": 1500, "height": 1400}
    with dashboard_page(pg_settings, redis_settings, "rules-browser-streamlit.log", viewport, 0) as page:
        try:
            page.get_by_role("link", name="Rules").click()
            page.get_by_text("New rule").first.wait_for(timeout=60_000)
            choose(page, "Source", "pairs.analytics", exact=True)
            # the page reruns with the source's metrics: the metric box shows the first of them
            page.wait_for_function(
                """() => [...document.querySelectorAll('[data-testid="stSelectbox"]')].some(box =>
                    box.innerText.includes('Metric') && (box.innerText.includes('y_close')
                    || [...box.querySelectorAll('input')].some(i => (i.value || '').includes('y_close')
                    || (i.getAttribute('aria-label') || '').includes('y_close'))))""",
                timeout=30_000,
            )
            choose(page, "Metric", "zscore", exact=True)
            page.get_by_label("Name", exact=True).first.fill(name)
            page.get_by_label("Scope", exact=True).first.fill("binance:ETHUSDT/binance:BTCUSDT")
            page.get_by_label("Threshold", exact=True).first.fill("2.5")
            choose(page, "Condition", "abs >", exact=True)
            page.get_by_role("button", name="Add rule").click()
            page.get_by_text("Added: rule").first.wait_for(timeout=60_000)
            page.get_by_text(f"**{name}**").or_(page.get_by_text(name)).first.wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "dashboard-rules.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "dashboard-rules-failed.png"), full_page=True)
            raise
    with psycopg.connect(pg_settings.conninfo(), autocommit=True) as conn:
        [stored] = [s for s in RulesStore(conn, KafkaPublisher(kafka)).listed() if s.rule.name == name]
    rule = stored.rule
    assert (rule.source, rule.metric, rule.scope, rule.condition, rule.threshold) == (
        "pairs.analytics", "zscore", "binance:ETHUSDT/binance:BTCUSDT", "abs >", 2.5
    )  # fmt: skip
    published = [r for r in read_all(kafka, Topic.RULES) if r["rule_id"] == rule.rule_id]
    assert [(r["source"], r["version"]) for r in published] == [("pairs.analytics", 1)]
