"""Contract tests: the example record of every topic validates against its schema, and typical
violations are rejected with a readable reason."""

from __future__ import annotations

import copy

import pytest

from schemas import (
    ALL_TOPICS,
    SCHEMA_VERSION,
    Topic,
    ValidationFailed,
    dlq_record,
    load_schema,
    validator_for,
)

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
    assert rec["payload"].startswith('{"a": ')
    assert rec["reason"] == "malformed JSON"


def test_oversized_dlq_payload_is_cut_and_the_cut_is_said():
    rec = dlq_record(source="sink-postgres", reason="bad", payload="x" * (600 * 1024))
    validator_for(Topic.DLQ)(rec)
    assert "truncated" in rec["reason"]
