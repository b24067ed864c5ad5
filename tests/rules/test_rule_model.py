"""The rule model: what a user may enter, and the message they get when it cannot be stored."""

from __future__ import annotations

import pytest

from rules.catalogue import metric_fields, rule_metrics
from rules.model import CONDITIONS, SEVERITIES, RuleInvalid, parse_rule
from schemas import Topic, load_schema

pytestmark = pytest.mark.unit

GOOD = {
    "name": "wide spread",
    "metric": "spread_bps",
    "scope": "binance:ETH*",
    "condition": ">",
    "threshold": 4.5,
}


def problems(**changes: object) -> dict[str, str]:
    with pytest.raises(RuleInvalid) as caught:
        parse_rule({**GOOD, **changes})
    return caught.value.problems


def test_a_valid_rule_parses_with_the_defaults():
    rule = parse_rule({**GOOD, "min_duration_ms": "1.5s", "cooldown_ms": "2m", "severity": "HIGH"})
    assert (rule.metric, rule.scope, rule.condition, rule.threshold) == (
        "spread_bps",
        "binance:ETH*",
        ">",
        4.5,
    )
    assert (rule.min_duration_ms, rule.cooldown_ms, rule.severity, rule.enabled) == (
        1500,
        120_000,
        "high",
        True,
    )
    assert parse_rule(GOOD).cooldown_ms == 60_000 and parse_rule(GOOD).min_duration_ms == 0


def test_the_metrics_are_the_numeric_fields_of_the_processed_schema():
    props = load_schema(Topic.PROCESSED)["properties"]
    assert set(rule_metrics()) == set(metric_fields(Topic.PROCESSED))
    for name in ("spread_bps", "imbalance_5", "ofi_1", "depth_bid_10bps", "spread_bps_z"):
        assert name in rule_metrics()
    for name in ("event_time", "sequence_id", "receive_time_ns", "symbol", "crossed", "depth_complete_10bps"):
        assert name in props and name not in rule_metrics()


def test_every_problem_is_reported_at_once_with_its_field():
    with pytest.raises(RuleInvalid) as caught:
        parse_rule({"metric": "spred_bps", "condition": "bigger", "threshold": "x", "scope": "a:b:c",
                    "min_duration_ms": "soon", "severity": "urgent"})  # fmt: skip
    found = caught.value.problems
    assert set(found) == {"name", "metric", "condition", "threshold", "scope", "min_duration_ms", "severity"}
    assert "spread_bps" in found["metric"]  # a near name is suggested
    assert all(c in found["condition"] for c in CONDITIONS)
    assert "500ms" in found["min_duration_ms"]
    assert all(s in found["severity"] for s in SEVERITIES)
    assert "metric: " in str(caught.value)


@pytest.mark.parametrize(
    ("scope", "accepted"),
    [("all", True), ("*", True), ("", True), ("binance:ETHUSDT", True), ("*:BTC*", True), ("ETH?USDT", True),
     ("binance:", False), ("a:b:c", False), ("binance:[EB]TH", False), ("pair:ETHUSDT/BTCUSDT", False)],
)  # fmt: skip
def test_scopes(scope, accepted):
    if accepted:
        assert parse_rule({**GOOD, "scope": scope}).scope == (scope if scope not in ("*", "") else "all")
    else:
        assert "scope" in problems(scope=scope)


def test_numbers_and_durations_are_checked():
    assert "threshold" in problems(threshold=float("nan"))
    assert "threshold" in problems(threshold=True)
    assert "abs >" in problems(condition="abs >", threshold=-1)["threshold"]
    assert parse_rule({**GOOD, "condition": "Crosses  Above"}).condition == "crosses above"
    assert "24h" in problems(cooldown_ms="25h")["cooldown_ms"]
    assert "cooldown_ms" in problems(cooldown_ms=-5)
    assert "enabled" in problems(enabled="yes")
    assert "name" in problems(name="x" * 81)
