"""The Grafana dashboard (deploy/grafana/dashboards/orderbook-monitor.json) shows the same metrics
as the Streamlit pages: every orderbook_metrics column it queries exists in the processed schema,
each book-shape metric has a panel whose description is the dashboard's help text, the imbalance
level is a variable over the published levels, and the velocity panel draws the alert threshold."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from config import AlertSettings, MetricsJobSettings
from dashboard.metric_columns import MetricColumns
from dashboard.metric_help import metric_help
from schemas import Topic, load_schema

pytestmark = pytest.mark.unit

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy/grafana/dashboards/orderbook-monitor.json"
METRICS = MetricsJobSettings()


def _panels() -> list[dict]:
    return json.loads(DASHBOARD.read_text())["panels"]


def _sql(panel: dict) -> str:
    return "\n".join(t.get("rawSql", "") for t in panel["targets"])


def _panel_querying(column: str) -> dict:
    found = [p for p in _panels() if re.search(rf"\b{column}(?![a-z0-9_])", _sql(p))]
    assert found, f"no Grafana panel queries {column}"
    return found[0]


def test_every_metrics_column_queried_is_in_the_schema():
    published = set(load_schema(Topic.PROCESSED)["properties"])
    levels = json.loads(DASHBOARD.read_text())["templating"]["list"][0]
    assert levels["name"] == "level"
    assert [int(o["value"]) for o in levels["options"]] == METRICS.imbalance_levels
    for panel in _panels():
        sql = _sql(panel)
        if "orderbook_metrics" not in sql:
            continue
        for level in METRICS.imbalance_levels:
            expanded = sql.replace("${level}", str(level))
            for name in re.findall(r"\b((?:imbalance|depth|weighted|vtob|spread)_[a-z0-9_]+)\b", expanded):
                assert name in published, f"panel {panel['title']!r} queries {name}, not in the schema"


def test_each_book_shape_metric_has_a_panel_that_says_what_it_means():
    columns = MetricColumns(AlertSettings(), METRICS)
    for column, name in (
        ("weighted_imbalance", "weighted_imbalance"),
        ("vtob_ratio", "vtob_ratio"),
        ("imbalance_velocity", "imbalance_velocity"),
        ("imbalance_\\$\\{level\\}", "imbalance"),
    ):
        panel = _panel_querying(column)
        params = {"level": "$level"} if name == "imbalance" else {}
        assert panel["description"].startswith(metric_help(name, METRICS, **params).help), panel["title"]
    for band in columns.depth_bands:
        for side in (band.bid, band.ask):
            panel = _panel_querying(side)
            assert panel["description"].startswith(metric_help("depth", METRICS, bps=band.bps).help)
        assert "lower bound" in _panel_querying(band.complete)["description"]


def test_the_velocity_panel_draws_the_alert_threshold():
    panel = _panel_querying("imbalance_velocity")
    threshold = AlertSettings().velocity_threshold
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [s["value"] for s in steps] == [None, -threshold, threshold]
    assert panel["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off"
    assert f"{threshold:g}" in panel["title"]
