"""The rule model: what a user may enter, and the message they get when it cannot be stored."""

from __future__ import annotations

import pytest

from rules.catalogue import DEFAULT_SOURCE, RULE_SOURCES, metric_fields, rule_metrics
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


def test_each_source_has_the_measured_fields_of_its_topic():
    names = [s.name for s in RULE_SOURCES]
    assert names == ["orderbook.processed", "orderbook.bars:1s", "orderbook.bars:1m", "trades.bars:1s",
                     "trades.bars:1m", "trades.bars:5m", "pairs.analytics"]  # fmt: skip
    assert DEFAULT_SOURCE == "orderbook.processed" and parse_rule(GOOD).source == DEFAULT_SOURCE
    # decimal texts count (trades.bars' prices and volumes, the pairs' closes); times and ids do not
    assert {"close", "volume", "vwap", "trade_count", "volume_delta"} <= set(rule_metrics("trades.bars:1m"))
    assert {"spread_bps_max", "ofi_sum", "mid_close"} <= set(rule_metrics("orderbook.bars:1s"))
    assert {"zscore", "beta", "return_corr", "adf_pvalue", "half_life_s", "y_close"} <= set(
        rule_metrics("pairs.analytics")
    )
    for source, name in (("trades.bars:1m", "window_start"), ("pairs.analytics", "adf_time"),
                         ("pairs.analytics", "pair"), ("trades.bars:5m", "interval"), ("trades.bars:1s", "symbol")):  # fmt: skip
        assert name in load_schema(Topic(source.split(":")[0]))["properties"]
        assert name not in rule_metrics(source)


def test_a_metric_is_checked_against_its_source():
    rule = parse_rule({**GOOD, "source": "trades.bars:5m", "metric": "volume_delta", "scope": "*:ETHUSDT"})
    assert (rule.source, rule.metric) == ("trades.bars:5m", "volume_delta")
    found = problems(source="trades.bars:1m")  # spread_bps is not a field of the trade bars
    assert "trades.bars:1m" in found["metric"] and "orderbook.processed" in found["metric"]
    assert "pairs.analytics" in problems(source="pairs", metric="zscore")["source"]
    assert "zscore" in problems(metric="zscore")["metric"]  # a pair metric on the books
    assert parse_rule({**GOOD, "source": "orderbook.bars:1m", "metric": "spread_bps_max"}).describe() == (
        "spread_bps_max of orderbook.bars:1m > 4.5 on binance:ETH*"
    )


@pytest.mark.parametrize(
    ("scope", "accepted"),
    [("all", True), ("*/*", True), ("binance:ETHUSDT/binance:BTCUSDT", True), ("*:ETH*/binance:BTC?SDT", True),
     ("binance:ETH*/*", True), ("binance:ETHUSDT", False), ("ETHUSDT/BTCUSDT", False), ("a:b/c:d/e:f", False),
     ("binance:ETH[U]/x:y", False)],
)  # fmt: skip
def test_pair_scopes(scope, accepted):
    fields = {**GOOD, "source": "pairs.analytics", "metric": "zscore", "scope": scope}
    if accepted:
        assert parse_rule(fields).scope == ("all" if scope == "*/*" else scope)
    else:
        with pytest.raises(RuleInvalid) as caught:
            parse_rule(fields)
        assert set(caught.value.problems) == {"scope"}


def test_a_pair_scope_needs_the_pair_source():
    assert "pairs.analytics" in problems(scope="binance:ETHUSDT/binance:BTCUSDT")["scope"]
