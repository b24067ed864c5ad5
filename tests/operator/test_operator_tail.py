"""`obm tail` against the session's real broker: decoding, validation, positions, key filter."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result
from operator_records import example_record, json_lines, make_topic, produce

from config import KafkaSettings
from obm.operator import tail
from schemas import Topic, record_key, topic_name

pytestmark = pytest.mark.integration

T0 = 1_763_719_200_000  # 2025-11-21T10:00:00Z
BTC, ETH = record_key("binance", "BTCUSDT"), record_key("binance", "ETHUSDT")


@pytest.fixture
def raw_topic(isolated_kafka: KafkaSettings) -> str:
    """orderbook.raw of this test, one partition (a total order), holding six records:
    offsets 0-3 valid (BTC, ETH, BTC, ETH), 4 breaks the schema, 5 is not JSON."""
    name = topic_name(Topic.RAW, isolated_kafka.topic_prefix)
    make_topic(isolated_kafka, name, partitions=1)
    broken = example_record(Topic.RAW, symbol="ETHUSDT")
    del broken["bid_prices"]
    records = [
        (BTC, example_record(Topic.RAW, symbol="BTCUSDT", sequence_id=1), T0),
        (ETH, example_record(Topic.RAW, symbol="ETHUSDT", sequence_id=2), T0 + 1_000),
        (BTC, example_record(Topic.RAW, symbol="BTCUSDT", sequence_id=3), T0 + 2_000),
        (ETH, example_record(Topic.RAW, symbol="ETHUSDT", sequence_id=4), T0 + 3_000),
        (ETH, broken, T0 + 4_000),
        (BTC, b"\x00not json", T0 + 5_000),
    ]
    produce(isolated_kafka, name, records)
    return name


def test_tail_decodes_validates_and_shows_invalid_records(
    run_obm: Callable[..., Result], raw_topic: str
) -> None:
    out = json_lines(run_obm(tail, "orderbook.raw", "--from", "earliest", "--no-follow", "--output", "json"))
    assert [r["offset"] for r in out] == [0, 1, 2, 3, 4, 5]
    assert [r["valid"] for r in out] == [True, True, True, True, False, False]
    assert [r["value"]["sequence_id"] for r in out[:4]] == [1, 2, 3, 4]
    assert all(r["schema"] == "orderbook.raw" for r in out)
    assert "bid_prices" in out[4]["error"]
    assert out[5]["error"].startswith("not JSON")
    assert out[0]["timestamp_ms"] == T0

    text = run_obm(tail, "orderbook.raw", "--from", "earliest", "--no-follow")
    lines = text.stdout.splitlines()
    assert len(lines) == 6 and sum("INVALID" in line for line in lines) == 2
    assert lines[0].startswith("2025-11-21T10:00:00.000Z p0@0 binance:BTCUSDT {")


def test_tail_positions_offsets_times_and_limits(run_obm: Callable[..., Result], raw_topic: str) -> None:
    def offsets(*args: str) -> list[int]:
        out = json_lines(run_obm(tail, "orderbook.raw", "--output", "json", *args))
        return [r["offset"] for r in out]

    assert offsets("--from", "3", "--no-follow") == [3, 4, 5]
    assert offsets("--from", "-2", "--no-follow") == [4, 5]
    assert offsets("--from", "2025-11-21T10:00:02Z", "--no-follow") == [2, 3, 4, 5]
    assert offsets("--from", "2025-11-21T11:00:01+01:00", "--no-follow") == [1, 2, 3, 4, 5]
    assert offsets("--from", "latest", "--no-follow") == []
    assert offsets("--from", "earliest", "-n", "2") == [0, 1]
    # following (the default) stops at -n too: the last record, then done
    assert offsets("--from", "-1", "-n", "1") == [5]


def test_tail_key_filter(run_obm: Callable[..., Result], raw_topic: str) -> None:
    out = json_lines(
        run_obm(
            tail, "orderbook.raw", "--from", "earliest", "--no-follow", "--key", "ETHUSDT", "--output", "json"
        )
    )
    assert [r["offset"] for r in out] == [1, 3, 4]
    exact = json_lines(
        run_obm(tail, "orderbook.raw", "--from", "earliest", "--no-follow", "--key", BTC, "--output", "json")
    )
    assert [r["offset"] for r in exact] == [0, 2, 5]


def test_tail_follows_a_multi_partition_topic_until_n(
    run_obm: Callable[..., Result], isolated_kafka: KafkaSettings
) -> None:
    name = topic_name(Topic.ALERTS, isolated_kafka.topic_prefix)
    make_topic(isolated_kafka, name, partitions=3)
    for part in range(3):
        produce(isolated_kafka, name, [(ETH, example_record(Topic.ALERTS), T0)], partition=part)
    out = json_lines(run_obm(tail, "orderbook.alerts", "--from", "earliest", "-n", "3", "--output", "json"))
    assert sorted(r["partition"] for r in out) == [0, 1, 2]
    assert all(r["valid"] and r["schema"] == "orderbook.alerts" for r in out)


def test_tail_missing_topic_is_an_error(run_obm: Callable[..., Result]) -> None:
    result = run_obm(tail, "orderbook.bars", "--no-follow")
    assert result.exit_code == 1 and "does not exist" in result.output
