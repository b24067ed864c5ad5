"""Contract tests: the example record of every topic validates against its schema, and typical
violations are rejected with a readable reason; record keys, topic names and the Redis key layout
are spelled as documented."""

from __future__ import annotations

import copy

import pytest

from config import RedisSettings
from schemas import (
    ALL_TOPICS,
    SCHEMA_VERSION,
    Topic,
    ValidationFailed,
    dlq_record,
    load_schema,
    nonconformity,
    original_bytes,
    record_key,
    split_record_key,
    topic_name,
    validator_for,
)
from schemas.redis_layout import RedisLayout

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("topic", ALL_TOPICS, ids=lambda t: t.value)
def test_every_topic_has_a_versioned_schema_whose_examples_validate(topic):
    schema = load_schema(topic)
    assert schema["properties"]["schema_version"] == {"const": SCHEMA_VERSION}
    assert "schema_version" in schema["required"]
    assert schema["examples"], f"{topic} schema has no example record"
    for example in schema["examples"]:
        validator_for(topic)(example)


def _raw_example():
    return copy.deepcopy(load_schema(Topic.RAW)["examples"][0])


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda r: r.pop("event_time"), "event_time"),
        (lambda r: r.__setitem__("bid_sizes", [1.0, -2.0]), "bid_sizes"),
        (lambda r: r.__setitem__("ask_prices", ["2511.5"]), "ask_prices"),
        (lambda r: r.__setitem__("schema_version", 2), "schema_version"),
        (lambda r: r.__setitem__("market", "options"), "market"),
        (lambda r: r.__setitem__("extra", 1), "extra"),
    ],
)
def test_raw_schema_rejects_bad_records_with_a_reason(mutate, needle):
    record = _raw_example()
    mutate(record)
    with pytest.raises(ValidationFailed) as info:
        validator_for(Topic.RAW)(record)
    assert needle in info.value.reason
    assert info.value.reason.startswith("orderbook.raw schema:")


def test_dlq_records_are_valid_and_keep_the_payload():
    rec = dlq_record(source="producer", reason="malformed JSON", payload=b'{"a": \xff', origin="x@depth")
    validator_for(Topic.DLQ)(rec)
    assert rec["payload_encoding"] == "base64"  # not UTF-8: kept byte for byte
    assert original_bytes(rec) == b'{"a": \xff'
    assert rec["reason"] == "malformed JSON"
    text = dlq_record(
        source="sink-redis", reason="bad", payload=b'{"a": 1}', topic="t", partition=2, offset=7
    )
    validator_for(Topic.DLQ)(text)
    assert (text["payload"], text["payload_encoding"], text["origin"]) == ('{"a": 1}', "utf-8", "t[2]@7")
    assert original_bytes(text) == b'{"a": 1}'


def test_oversized_dlq_payload_is_cut_and_the_cut_is_said():
    rec = dlq_record(source="sink-postgres", reason="bad", payload="x" * (600 * 1024))
    validator_for(Topic.DLQ)(rec)
    assert "truncated" in rec["reason"]


NOW_MS = 1_723_161_240_123


def _raw(**changes):
    rec = dict(load_schema(Topic.RAW)["examples"][0])
    rec["event_time"] = NOW_MS
    rec.update(changes)
    return rec


@pytest.mark.parametrize(
    ("changes", "reason_part"),
    [
        ({"bid_prices": "x"}, "bid_prices"),
        ({"ask_sizes": [None, 1.0]}, "ask_sizes"),
        ({"bid_sizes": [1.0]}, "bid_prices has 2 items but bid_sizes has 1"),
        ({"ask_prices": [], "ask_sizes": []}, "ask_prices"),
        ({"bid_sizes": [-1.0, 1.0]}, "bid_sizes"),
        ({"ask_sizes": [float("inf"), 1.0]}, "ask_sizes[0] is not a finite number"),
        ({"event_time": NOW_MS + 86_400_000}, "ahead of the consumer's clock"),
        ({"event_time": NOW_MS - 2 * 86_400_000}, "older than the topic's retention"),
        ({"extra": 1}, "orderbook.raw schema"),
    ],
)
def test_nonconformity_names_what_breaks_the_raw_contract(changes, reason_part):
    reason = nonconformity(Topic.RAW, _raw(**changes), now_ms=NOW_MS, max_future_ms=300_000,
                           max_age_ms=86_400_000)  # fmt: skip
    assert reason is not None and reason_part in reason


def test_a_conforming_record_and_clock_skew_within_the_bound_pass():
    for skew in (-60_000, 0, 299_000):
        rec = _raw(event_time=NOW_MS + skew)
        assert nonconformity(Topic.RAW, rec, now_ms=NOW_MS, max_future_ms=300_000, max_age_ms=None) is None


@pytest.mark.parametrize(
    ("exchange", "symbol"), [("binance", "BTCUSDT"), ("binance_usdm", "ETHUSDT"), ("x", "1000PEPEUSDT")]
)
def test_record_key_round_trips_as_text_and_bytes(exchange, symbol):
    key = record_key(exchange, symbol)
    assert key == f"{exchange}:{symbol}"
    assert split_record_key(key) == (exchange, symbol)
    assert split_record_key(key.encode()) == (exchange, symbol)


@pytest.mark.parametrize("key", ["BTCUSDT", ":BTCUSDT", "binance:", "", "a:b:c", b"binance:\xff"])
def test_a_malformed_record_key_is_refused_with_the_key_named(key):
    with pytest.raises(ValueError, match="not an exchange:symbol key") as info:
        split_record_key(key)
    assert repr(key) in str(info.value)


def test_topic_names_on_the_broker_are_the_contract_names_behind_the_prefix():
    assert [topic_name(t) for t in ALL_TOPICS] == [t.value for t in ALL_TOPICS]
    assert topic_name(Topic.RAW, "t1.") == "t1.orderbook.raw"


def test_the_redis_layout_gives_the_documented_names():
    """The Redis key layout is the contract between the Redis sink and the dashboard (docs/storage.md)."""
    k = RedisLayout()
    assert k.symbols() == "obm:symbols"
    assert k.latest("binance", "BTCUSDT") == "obm:latest:binance:BTCUSDT"
    assert k.book("binance", "BTCUSDT") == "obm:book:binance:BTCUSDT"
    assert k.bars("1s", "binance", "BTCUSDT") == "obm:bars:1s:binance:BTCUSDT"
    assert k.alerts_stream() == "obm:alerts"
    assert k.alerts_last("binance", "ETHUSDT") == "obm:alerts:last:binance:ETHUSDT"
    assert k.alerts_channel() == "obm:alerts:live"
    assert k.heartbeat() == "obm:sink:heartbeat"
    assert k.alerts_seen() == "obm:sink:alerts-seen"
    assert k.refilled_marker() == "obm:sink:refilled"


def test_the_redis_key_prefix_comes_from_settings():
    k = RedisLayout.from_settings(RedisSettings(key_prefix="test42"))
    assert k.latest("x", "Y") == "test42:latest:x:Y"
    assert k.alerts_channel() == "test42:alerts:live"


@pytest.mark.parametrize("topic", [Topic.PROCESSED, Topic.BARS, Topic.ALERTS], ids=lambda t: t.value)
def test_the_instrument_fields_are_one_definition_across_the_keyed_topics(topic):
    """A book's metrics, bars and alerts name the instrument exactly as orderbook.raw does: a venue
    or market added to raw alone would have its metrics rejected downstream."""
    raw = load_schema(Topic.RAW)["properties"]
    props = load_schema(topic)["properties"]
    for field in ("exchange", "market", "symbol"):
        if topic is Topic.ALERTS and field == "market":  # every book's market, and a rule on a pair's
            assert props[field]["enum"] == [*raw[field]["enum"], "pair"]
            continue
        assert props[field] == raw[field], field
