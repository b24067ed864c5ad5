"""`obm replay` against the session's real broker: copying slices and rewinding a group."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from click.testing import Result
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient
from operator_records import example_record, json_lines, make_topic, produce

from config import KafkaSettings
from config.clients import client_config
from obm.operator import replay, tail
from obm.operator.replay_command import ORIGIN_HEADER
from schemas import Topic, record_key, topic_name

pytestmark = pytest.mark.integration

T0 = 1_763_719_200_000  # 2025-11-21T10:00:00Z
BTC, ETH = record_key("binance", "BTCUSDT"), record_key("binance", "ETHUSDT")


@pytest.fixture
def processed_topic(isolated_kafka: KafkaSettings) -> str:
    """orderbook.processed of this test, one partition, ten valid records one second apart,
    alternating BTC (even offsets) and ETH (odd offsets)."""
    name = topic_name(Topic.PROCESSED, isolated_kafka.topic_prefix)
    make_topic(isolated_kafka, name, partitions=1)
    records = [
        (BTC if i % 2 == 0 else ETH, example_record(Topic.PROCESSED, sequence_id=i), T0 + i * 1_000)
        for i in range(10)
    ]
    produce(isolated_kafka, name, records)
    return name


def _read_all(settings: KafkaSettings, topic: str) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": f"check-{time.time_ns()}",
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    md = consumer.list_topics(topic, timeout=10)
    parts = list(md.topics[topic].partitions)
    consumer.assign([TopicPartition(topic, p, 0) for p in parts])
    out, eof = [], set()
    deadline = time.monotonic() + 30
    while len(eof) < len(parts) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            eof.add(msg.partition())
            continue
        out.append(msg)
    consumer.close()
    return out


def test_replay_offset_range_keeps_keys_values_timestamps_and_marks_origin(
    run_obm: Callable[..., Result], isolated_kafka: KafkaSettings, processed_topic: str
) -> None:
    dest = f"{isolated_kafka.topic_prefix}debug.orderbook.processed"
    result = run_obm(replay, "orderbook.processed", dest, "--from", "2", "--until", "6")
    assert result.exit_code == 0, result.output
    assert "copied 4 of 4 record(s)" in result.stdout

    copies = _read_all(isolated_kafka, dest)
    originals = {m.offset(): m for m in _read_all(isolated_kafka, processed_topic)}
    assert len(copies) == 4
    for copy in copies:
        origin = dict(copy.headers())[ORIGIN_HEADER].decode()
        src_offset = int(origin.rsplit("@", 1)[1])
        assert origin.startswith(f"{processed_topic}/0@") and 2 <= src_offset < 6
        src = originals[src_offset]
        assert (copy.key(), copy.value(), copy.timestamp()[1]) == (src.key(), src.value(), src.timestamp()[1])

    # the copy is still readable as processed records: its name ends with the contract topic's
    out = json_lines(run_obm(tail, dest, "--from", "earliest", "--no-follow", "--output", "json"))
    assert len(out) == 4 and all(r["valid"] and r["schema"] == "orderbook.processed" for r in out)


def test_replay_time_range_with_key_filter(
    run_obm: Callable[..., Result], isolated_kafka: KafkaSettings, processed_topic: str
) -> None:
    dest = f"{isolated_kafka.topic_prefix}eth-slice"
    result = run_obm(
        replay,
        "orderbook.processed",
        dest,
        "--from",
        "2025-11-21T10:00:03Z",
        "--until",
        "2025-11-21T10:00:08Z",
        "--key",
        "ETHUSDT",
    )
    assert result.exit_code == 0, result.output
    assert "copied 3 of 5 record(s)" in result.stdout  # offsets 3..7 scanned, ETH at 3, 5, 7
    copies = _read_all(isolated_kafka, dest)
    assert sorted(int(dict(m.headers())[ORIGIN_HEADER].decode().rsplit("@", 1)[1]) for m in copies) == [
        3,
        5,
        7,
    ]
    assert {m.key() for m in copies} == {ETH.encode()}


def test_replay_dry_run_and_same_topic_guard(
    run_obm: Callable[..., Result], isolated_kafka: KafkaSettings, processed_topic: str
) -> None:
    dest = f"{isolated_kafka.topic_prefix}never-made"
    dry = run_obm(replay, "orderbook.processed", dest, "--from", "-3", "--dry-run")
    assert dry.exit_code == 0 and "3 record(s) p0:[7,10)" in dry.output
    assert dest not in AdminClient(client_config(isolated_kafka)).list_topics(timeout=10).topics

    same = run_obm(replay, "orderbook.processed", "orderbook.processed")
    assert same.exit_code == 2 and "--allow-same-topic" in same.output

    appended = run_obm(replay, "orderbook.processed", "orderbook.processed", "--allow-same-topic")
    assert appended.exit_code == 0 and "copied 10 of 10" in appended.stdout  # bounded: no chasing its tail
    assert len(_read_all(isolated_kafka, processed_topic)) == 20


def _committed(settings: KafkaSettings, group: str) -> dict[tuple[str, int], int]:
    admin = AdminClient(client_config(settings))
    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(10)
    return {(tp.topic, tp.partition): tp.offset for tp in res.topic_partitions}


def test_rewind_group_to_a_time_and_refuse_an_active_group(
    run_obm: Callable[..., Result], isolated_kafka: KafkaSettings
) -> None:
    topic = topic_name(Topic.BARS, isolated_kafka.topic_prefix)
    make_topic(isolated_kafka, topic, partitions=2)
    for part in (0, 1):
        produce(
            isolated_kafka,
            topic,
            [(BTC, example_record(Topic.BARS), T0 + i * 1_000) for i in range(5)],
            partition=part,
        )
    group = f"{isolated_kafka.topic_prefix}sink"
    # a sink that consumed everything and committed: offsets at the end
    sink = Consumer(
        {
            "bootstrap.servers": isolated_kafka.bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
        }
    )
    sink.commit(offsets=[TopicPartition(topic, 0, 5), TopicPartition(topic, 1, 5)], asynchronous=False)
    sink.close()

    dry = run_obm(replay, "--rewind-group", group, "--to", "2025-11-21T10:00:02Z", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"{topic} p0: 5 -> 2" in dry.stdout and f"{topic} p1: 5 -> 2" in dry.stdout
    assert _committed(isolated_kafka, group) == {(topic, 0): 5, (topic, 1): 5}

    done = run_obm(replay, "--rewind-group", group, "--to", "2025-11-21T10:00:02Z")
    assert done.exit_code == 0, done.output
    assert _committed(isolated_kafka, group) == {(topic, 0): 2, (topic, 1): 2}

    back = run_obm(replay, "--rewind-group", group, "--to", "earliest", "--topic", topic)
    assert back.exit_code == 0 and _committed(isolated_kafka, group) == {(topic, 0): 0, (topic, 1): 0}

    # a running sink: Kafka would refuse, the command says what to do instead
    live = Consumer(
        {
            "bootstrap.servers": isolated_kafka.bootstrap_servers,
            "group.id": group,
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    live.subscribe([topic])
    deadline = time.monotonic() + 30
    while not live.assignment() and time.monotonic() < deadline:
        live.poll(0.2)
    try:
        busy = run_obm(replay, "--rewind-group", group, "--to", "latest")
        assert busy.exit_code == 1 and "stop its consumer" in busy.output
    finally:
        live.close()
    assert _committed(isolated_kafka, group) == {(topic, 0): 0, (topic, 1): 0}


def test_rewind_needs_topics_when_the_group_has_no_offsets(run_obm: Callable[..., Result]) -> None:
    result = run_obm(replay, "--rewind-group", "obm-never-seen", "--to", "1h")
    assert result.exit_code == 1 and "--topic" in result.output


def test_replay_usage_errors(run_obm: Callable[..., Result]) -> None:
    assert run_obm(replay, "orderbook.raw").exit_code == 2
    assert run_obm(replay, "--rewind-group", "g").exit_code == 2
    assert run_obm(replay, "a", "b", "--to", "1h").exit_code == 2
