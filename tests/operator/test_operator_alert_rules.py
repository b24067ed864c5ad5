"""The Prometheus alert rules, checked offline (promtool is not installed here): the file is what
Prometheus loads (rule_files in prometheus.yml, mounted by docker-compose.yml), every rule is
complete, every expression parses as PromQL (promql-parser, the Rust parser of the PromQL grammar:
unknown functions, unbalanced brackets, bad durations and type errors are refused), and every
metric it reads is exported by this project's code (the sinks' and the notifier's registries, the
producer's collector) or is one of the documented Flink, Redpanda and Prometheus metrics
(docs/operations.md lists them all)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from notify.metrics import NotifyMetrics
from sinks.sink_metrics import SinkMetrics

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy/prometheus/alerts.yml"
# Metrics of Flink's Prometheus reporter, Redpanda's /public_metrics and Prometheus itself that the
# rules rely on.
EXTERNAL_METRICS = {
    "flink_jobmanager_job_numRestarts",
    "flink_jobmanager_numRunningJobs",
    "flink_jobmanager_job_downtime",
    "flink_taskmanager_job_task_operator_pendingRecords",
    "redpanda_kafka_records_produced_total",
    "up",
}
DURATION = re.compile(r"^\d+[smhd]$")


def rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _selected(node: Any) -> set[str]:
    """Metric names (or `__name__` patterns) of every selector under `node`."""
    if isinstance(node, promql_parser.VectorSelector):
        if node.name:
            return {node.name}
        return {m.value for m in node.matchers.matchers if m.name == "__name__"}
    if isinstance(node, promql_parser.MatrixSelector):
        return _selected(node.vector_selector)
    if isinstance(node, promql_parser.BinaryExpr):
        return _selected(node.lhs) | _selected(node.rhs)
    if isinstance(node, promql_parser.Call):
        return set().union(*(_selected(arg) for arg in node.args))
    if isinstance(node, promql_parser.AggregateExpr | promql_parser.ParenExpr | promql_parser.UnaryExpr
                  | promql_parser.SubqueryExpr):  # fmt: skip
        return _selected(node.expr)
    return set()  # number and string literals


def check_expression(expr: str) -> set[str]:
    """Parses the expression (raising ValueError where Prometheus would refuse it); returns the
    metric names it selects."""
    return _selected(promql_parser.parse(expr))


def exported_by_the_code() -> tuple[set[str], str]:
    """(sample names of the sinks' and the notifier's registries, the producer's collector source)."""
    names = set()
    for registry in (SinkMetrics("x").registry, NotifyMetrics().registry):
        for family in registry.collect():
            names |= {family.name, f"{family.name}_total"} if family.type == "counter" else {family.name}
    return names, (REPO / "producer/observability.py").read_text()


def test_prometheus_loads_the_rules_file_compose_mounts() -> None:
    prom = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = dict(
        v.rsplit(":", 2)[:2] for v in compose["services"]["prometheus"]["volumes"] if v.startswith("./")
    )
    assert prom["rule_files"] == ["/etc/prometheus/alerts.yml"]
    assert mounts["./deploy/prometheus/alerts.yml"] == "/etc/prometheus/alerts.yml"


def test_every_component_a_rule_reads_is_scraped() -> None:
    prom = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    jobs = {job["job_name"]: job for job in prom["scrape_configs"]}
    assert {"producer", "sinks", "notify", "gateway", "flink", "redpanda"} <= set(jobs)
    for job, port_var in (("notify", "OBM_NOTIFY_PORT"), ("gateway", "OBM_GATEWAY_PORT")):
        port = services[job]["environment"][port_var]
        assert jobs[job]["static_configs"][0]["targets"] == [f"{job}:{port}"]


def test_every_rule_is_complete_and_well_formed() -> None:
    found = rules()
    names = [r["alert"] for r in found]
    assert len(names) == len(set(names)) and all(re.fullmatch(r"Obm[A-Z]\w+", n) for n in names)
    for rule in found:
        assert isinstance(rule["expr"], str) and rule["expr"].strip(), rule["alert"]
        assert re.search(r"(?:[<>]=?|==)\s*\d", rule["expr"]), f"{rule['alert']}: no threshold"
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        if "for" in rule:
            assert DURATION.match(rule["for"]), rule["for"]
        assert check_expression(rule["expr"]), f"{rule['alert']} reads no metric"
    # what issues 11 and 17 ask for: DLQ rate, Flink jobs, consumer lag, books not live, resync
    # storms, a sink heartbeat gone, the notifier failing
    assert {
        "ObmDlqRateHigh", "ObmFlinkJobRestarted", "ObmFlinkJobsMissing", "ObmFlinkJobDown",
        "ObmSinkConsumerLag", "ObmFlinkSourceLag", "ObmNotifyConsumerLag", "ObmBookNotLive",
        "ObmBookResyncStorm", "ObmSinkHeartbeatGone", "ObmNotifyDeliveryFailing",
    } <= set(names)  # fmt: skip


def test_every_metric_a_rule_reads_exists_and_is_documented() -> None:
    registries, producer = exported_by_the_code()
    runbook = (REPO / "docs/operations.md").read_text()
    for rule in rules():
        for metric in check_expression(rule["expr"]):
            if metric.startswith("obm_producer_"):
                stem = re.sub(r"_total$", "", metric)
                assert f'"{stem}"' in producer or f'"{stem.removeprefix("obm_producer_")}"' in producer, (
                    f"{rule['alert']} reads {metric}, which the producer does not export"
                )
            elif metric.startswith("obm_"):
                assert metric in registries, f"{rule['alert']} reads {metric}, which nothing exports"
            elif "obm_rejected_" in metric:
                # The Flink format's per-kind reject counters (RejectKind.metricName in the jar).
                assert metric == "flink_taskmanager_job_task_operator_.*obm_rejected_.*"
            else:
                assert metric in EXTERNAL_METRICS, (
                    f"{rule['alert']} reads {metric}: add it to the documented list"
                )
            assert metric.removesuffix("_total").split(".*")[0] in runbook, (
                f"{metric} is not in docs/operations.md"
            )


def test_the_parser_refuses_what_prometheus_would() -> None:
    for bad in ("sum(rate(x[5m])", "rate(x[5 minutes]) > 1", "sume(x) > 1", "rate(x) > 1"):
        with pytest.raises(ValueError):
            check_expression(bad)
    assert check_expression('sum by (a) (rate(m_total{b=~"c"}[5m])) > 0.1') == {"m_total"}
    assert check_expression("time() - max by (s) (t_seconds) > 120 and on() up == 0") == {"t_seconds", "up"}
