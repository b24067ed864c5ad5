"""The Prometheus alert rules, checked offline: the file is what Prometheus loads (rule_files in
prometheus.yml, mounted by docker-compose.yml), every rule is complete, every expression is
well-formed PromQL as far as a lexer can tell (brackets, strings, durations, known functions), and
every metric it reads is exported by this project's code or is one of the documented Flink and
Redpanda metrics (docs/operations.md lists them all)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy/prometheus/alerts.yml"
# Metrics of Flink's Prometheus reporter and of Redpanda's /public_metrics the rules rely on.
EXTERNAL_METRICS = {
    "flink_jobmanager_job_numRestarts",
    "flink_jobmanager_numRunningJobs",
    "flink_taskmanager_job_task_operator_pendingRecords",
    "redpanda_kafka_records_produced_total",
}
FUNCTIONS = {"sum", "rate", "increase", "max", "min", "avg", "by", "without"}
DURATION = re.compile(r"^\d+[smhd]$")
TOKEN = re.compile(
    r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<range>\[[^\]]*\])|(?P<number>\d+(?:\.\d+)?)'
    r"|(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<op>=~|!=|!~|>=|<=|==|[-+*/><=(){},]))"
)


def rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def lex(expr: str) -> list[tuple[str, str]]:
    """(kind, text) tokens; raises on anything PromQL would not accept at the lexical level."""
    tokens, pos = [], 0
    while pos < len(expr.rstrip()):
        m = TOKEN.match(expr, pos)
        assert m and m.end() > pos, f"cannot read {expr[pos:]!r} in {expr!r}"
        kind = m.lastgroup
        assert kind is not None
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


def check_expression(expr: str) -> set[str]:
    """Checks brackets, range durations and functions; returns the metric names it selects."""
    tokens = lex(expr)
    depth = {"(": 0, "{": 0}
    closing = {")": "(", "}": "{"}
    metrics: set[str] = set()
    in_braces = False
    for i, (kind, text) in enumerate(tokens):
        if kind == "op" and text in depth:
            depth[text] += 1
            in_braces = in_braces or text == "{"
        elif kind == "op" and text in closing:
            depth[closing[text]] -= 1
            assert depth[closing[text]] >= 0, f"unbalanced {text} in {expr!r}"
            in_braces = in_braces and text != "}"
        elif kind == "range":
            assert DURATION.match(text[1:-1]), f"bad range {text} in {expr!r}"
        elif kind == "name" and not in_braces:
            following = tokens[i + 1][1] if i + 1 < len(tokens) else ""
            if following in ("(", "by", "without"):
                assert text in FUNCTIONS, f"unknown function {text} in {expr!r}"
            elif tokens[i - 1][1] not in ("by", "without") and following not in (",", ")"):
                metrics.add(text)
        elif kind == "string" and i >= 2 and tokens[i - 2][1] == "__name__":
            metrics.add(text.strip('"'))  # a name matcher: {__name__=~"..."}
    assert depth == {"(": 0, "{": 0}, f"unbalanced brackets in {expr!r}"
    return metrics


def exported_by_the_code() -> str:
    return "".join((REPO / f).read_text() for f in ("sinks/sink_metrics.py", "producer/observability.py"))


def test_prometheus_loads_the_rules_file_compose_mounts() -> None:
    prom = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = dict(
        v.rsplit(":", 2)[:2] for v in compose["services"]["prometheus"]["volumes"] if v.startswith("./")
    )
    assert prom["rule_files"] == ["/etc/prometheus/alerts.yml"]
    assert mounts["./deploy/prometheus/alerts.yml"] == "/etc/prometheus/alerts.yml"


def test_every_rule_is_complete_and_well_formed() -> None:
    found = rules()
    names = [r["alert"] for r in found]
    assert len(names) == len(set(names)) and all(re.fullmatch(r"Obm[A-Z]\w+", n) for n in names)
    for rule in found:
        assert isinstance(rule["expr"], str) and rule["expr"].strip(), rule["alert"]
        assert re.search(r"[<>]=?\s*\d", rule["expr"]), f"{rule['alert']}: no threshold"
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        if "for" in rule:
            assert DURATION.match(rule["for"]), rule["for"]
        check_expression(rule["expr"])
    # what the issue asks for: a DLQ rate, a Flink job restart, consumer lag
    assert {"ObmDlqRateHigh", "ObmFlinkJobRestarted", "ObmSinkConsumerLag", "ObmFlinkSourceLag"} <= set(names)


def test_every_metric_a_rule_reads_exists_and_is_documented() -> None:
    code = exported_by_the_code()
    runbook = (REPO / "docs/operations.md").read_text()
    for rule in rules():
        for metric in check_expression(rule["expr"]):
            if metric.startswith("obm_"):
                stem = re.sub(r"_total$", "", metric)
                assert f'"{stem}"' in code or f'"{stem.removeprefix("obm_producer_")}"' in code, (
                    f"{rule['alert']} reads {metric}, which nothing exports"
                )
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


def test_the_lexer_rejects_what_prometheus_would() -> None:
    with pytest.raises(AssertionError):
        check_expression("sum(rate(x[5m])")
    with pytest.raises(AssertionError):
        check_expression("rate(x[5 minutes]) > 1")
    with pytest.raises(AssertionError):
        check_expression("sume(x) > 1")
    assert check_expression('sum by (a) (rate(m_total{b=~"c"}[5m])) > 0.1') == {"m_total"}
