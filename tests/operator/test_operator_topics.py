"""`obm topics` against the session's real broker."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from click.testing import Result
from operator_records import example_record, produce

from config import KafkaSettings
from obm.operator import topics
from obm.operator.topic_policy import TOPIC_POLICIES
from schemas import Topic, record_key, topic_name

pytestmark = pytest.mark.integration


def test_create_applies_each_topic_policy_and_is_idempotent(
    run_obm: Callable[..., Result], isolated_kafka: KafkaSettings
) -> None:
    first = run_obm(topics, "create")
    assert first.exit_code == 0, first.output
    assert first.stdout.count("created") == len(Topic)

    listed = run_obm(topics, "list", "--output", "json")
    assert listed.exit_code == 0, listed.output
    rows = {r["topic"]: r for r in orjson.loads(listed.stdout)}
    for topic, policy in TOPIC_POLICIES.items():
        row = rows[topic_name(topic, isolated_kafka.topic_prefix)]
        assert row["partitions"] == policy.partition_count(isolated_kafka)
        assert row["retention.ms"] == str(policy.retention_ms)
        assert row["cleanup.policy"] == policy.cleanup_policy
        assert row["schema"] == topic.value
        assert row["records"] == 0

    again = run_obm(topics, "create")
    assert again.exit_code == 0 and "created" not in again.stdout
    assert again.stdout.count("exists") == len(Topic)


def test_create_named_topic_with_overrides_and_describe_counts_records(
    run_obm: Callable[..., Result], isolated_kafka: KafkaSettings
) -> None:
    name = f"{isolated_kafka.topic_prefix}scratch"
    made = run_obm(topics, "create", name, "--partitions", "2", "--config", "retention.ms=3600000")
    assert made.exit_code == 0 and made.stdout.startswith("created"), made.output
    rec = example_record(Topic.ALERTS)
    produce(isolated_kafka, name, [(record_key("binance", "ETHUSDT"), rec, 1_000)] * 3, partition=1)

    described = run_obm(topics, "describe", name, "--output", "json")
    assert described.exit_code == 0, described.output
    info = orjson.loads(described.stdout)
    assert [p["records"] for p in info["partitions"]] == [0, 3]
    assert info["partitions"][1]["high"] == 3
    assert info["configs"]["retention.ms"] == "3600000"
    assert info["schema"] is None  # not a contract topic

    text = run_obm(topics, "describe", name)
    assert "retention.ms  3600000" in text.stdout and "PARTITION" in text.stdout


def test_describe_missing_topic_fails_cleanly(run_obm: Callable[..., Result]) -> None:
    result = run_obm(topics, "describe", "no.such.topic")
    assert result.exit_code == 1 and "does not exist" in result.output


def test_bad_config_option_is_a_usage_error(run_obm: Callable[..., Result]) -> None:
    result = run_obm(topics, "create", "x", "--config", "retention.ms")
    assert result.exit_code == 2 and "KEY=VALUE" in result.output
