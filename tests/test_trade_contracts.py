"""Contract of trades.raw and trades.bars: exact decimal texts within the DECIMAL types the
trade_bars job reads them as, the aggressor side, and the same conformance rules as every topic."""

from __future__ import annotations

import copy

import pytest

from schemas import Topic, ValidationFailed, load_schema, nonconformity, validator_for
from schemas.topic_policy import TOPIC_POLICIES
from sinks.decoding.fast_check import compile_fast_check

pytestmark = pytest.mark.unit

NOW_MS = 1_723_161_300_000


def _trade(**changes):
    record = copy.deepcopy(load_schema(Topic.TRADES)["examples"][0])
    record.update(changes)
    return record


@pytest.mark.parametrize(
    ("price", "size"),
    [
        ("2511.51000000", "0.00230000"),
        ("0.0000000001", "0.000000001"),
        ("99999999.9999999999", "9999999999.999999999"),
        ("1", "1"),
    ],
)
def test_exact_decimals_within_the_job_types_conform(price, size):
    assert nonconformity(Topic.TRADES, _trade(price=price, size=size), now_ms=NOW_MS, max_future_ms=1) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", 2511.5),  # a number: not exact
        ("price", "0"),
        ("price", "0.0000000000"),
        ("price", "-1"),
        ("price", "1e5"),
        ("price", ".5"),
        ("price", "0.00000000001"),  # 11 decimals: more than DECIMAL(18,10)
        ("price", "100000000"),  # 9 integer digits
        ("size", "0.0000000001"),  # 10 decimals: more than DECIMAL(19,9)
        ("size", "10000000000"),
        ("side", "BUY"),
        ("trade_id", ""),
        ("trade_id", 123),
    ],
)
def test_trades_that_break_the_contract_say_which_field(field, value):
    with pytest.raises(ValidationFailed) as info:
        validator_for(Topic.TRADES)(_trade(**{field: value}))
    assert field in info.value.reason or "price" in info.value.reason or "size" in info.value.reason


def test_a_trade_dated_ahead_of_the_consumer_is_refused():
    reason = nonconformity(
        Topic.TRADES, _trade(event_time=NOW_MS + 60_000), now_ms=NOW_MS, max_future_ms=1_000
    )
    assert reason is not None and "event_time" in reason


@pytest.mark.parametrize("topic", [Topic.TRADES, Topic.TRADE_BARS])
def test_the_sinks_fast_check_understands_the_trade_schemas(topic):
    """No backslash in a pattern, no unknown keyword: the sinks' fast path stays on for them."""
    check = compile_fast_check(load_schema(topic))
    assert check is not None
    assert all(check(example) for example in load_schema(topic)["examples"])


def test_trade_topics_have_a_policy():
    assert TOPIC_POLICIES[Topic.TRADES].retention_ms == TOPIC_POLICIES[Topic.RAW].retention_ms
    assert Topic.TRADE_BARS in TOPIC_POLICIES


def test_the_trade_bars_redis_key_is_the_documented_one():
    from schemas.redis_layout import RedisLayout

    assert RedisLayout().trade_bars("1m", "binance", "ETHUSDT") == "obm:trade-bars:1m:binance:ETHUSDT"
