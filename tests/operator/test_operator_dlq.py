"""`obm dlq`, `obm tail orderbook.dlq` and `obm replay --from-dlq` against the session's real broker.

The DLQ holds what consumers rejected, built by schemas.dlq_record as every consumer builds it;
the originals sit on this test's orderbook.raw (three partitions) where the DLQ records say. A
replay must put back exactly those bytes, under the same key, on the same partition."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest
from click.testing import CliRunner, Result
from confluent_kafka import Consumer, TopicPartition
from operator_records import example_record, json_lines, make_topic, produce

from config import KafkaSettings
from config.clients import consumer_config
from obm.operator import dlq, replay, tail
from obm.operator.dlq_records import reason_kind
from schemas import Topic, dlq_record

pytestmark = pytest.mark.integration

SOL = "binance:SOLUSDT"


def read_all(
    settings: KafkaSettings, topic: str, partitions: int
) -> list[tuple[int, int, bytes | None, bytes]]:
    """(partition, offset, key, value) of every record, read by assignment up to the end."""
    consumer = Consumer(consumer_config(settings, "unused"))
    out = []
    try:
        for p in range(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high == low:
                continue
            consumer.assign([TopicPartition(topic, p, low)])
            while True:
                msg = consumer.poll(10)
                assert msg is not None, f"{topic}[{p}] ended before offset {high}"
                if msg.error():
                    continue
                out.append((msg.partition(), msg.offset(), msg.key(), msg.value()))
                if msg.offset() + 1 >= high:
                    break
    finally:
        consumer.close()
    return out


@pytest.fixture
def poisoned(isolated_kafka: KafkaSettings) -> dict[str, object]:
    """Poison records on orderbook.raw and the DLQ records consumers wrote about them."""
    raw = f"{isolated_kafka.topic_prefix}{Topic.RAW.value}"
    processed = f"{isolated_kafka.topic_prefix}{Topic.PROCESSED.value}"
    dlq_topic = f"{isolated_kafka.topic_prefix}{Topic.DLQ.value}"
    make_topic(isolated_kafka, raw, partitions=3)
    make_topic(isolated_kafka, dlq_topic, partitions=1)
    wrong = example_record(Topic.RAW, symbol="SOLUSDT", bid_prices="x")
    nulls = example_record(Topic.RAW, symbol="SOLUSDT", ask_sizes=[None])
    not_utf8 = b'\xff\xfe{"symbol": "SOLUSDT"'
    originals = [orjson.dumps(wrong | {"sequence_id": i}) for i in (1, 2, 3)] + [
        orjson.dumps(nulls),
        not_utf8,
    ]
    for i, value in enumerate(originals):
        produce(isolated_kafka, raw, [(SOL, value, 1_763_719_200_000 + i)], partition=i % 3)
    on_raw = read_all(isolated_kafka, raw, 3)
    reasons = ["wrong_type: bid_prices is a string"] * 3 + [
        "null_value: ask_sizes[0] is null",
        "not_json: bad byte",
    ]
    on_raw.sort(key=lambda rec: originals.index(rec[3]))  # read_all gives them by partition
    records = [
        dlq_record(
            source="flink-metrics",
            reason=reason,
            payload=value,
            key=key.decode(),
            topic=raw,
            partition=part,
            offset=off,
        )
        for (part, off, key, value), reason in zip(on_raw, reasons, strict=True)
    ]
    records += [
        dlq_record(
            source="sink-postgres",
            reason="database_refused: numeric overflow",
            payload=b"{}",
            key=SOL,
            topic=processed,
            partition=0,
            offset=i,
        )  # fmt: skip
        for i in (7, 8)
    ]
    records.append(dlq_record(source="producer", reason="orderbook.raw schema: bad frame", payload="{}"))
    dlq_values = [orjson.dumps(r) for r in records] + [b"not a dlq record"]
    produce(isolated_kafka, dlq_topic, [(None, v, 1_763_719_300_000 + i) for i, v in enumerate(dlq_values)])
    return {"raw": raw, "on_raw": on_raw}


def test_dlq_summary_groups_by_consumer_and_reason_kind(run_obm: Callable[..., Result], poisoned) -> None:
    result = run_obm(dlq, "--from", "earliest", "--output", "json")
    summary = json_lines(result)[0]
    assert summary["records"] == 9
    counts = {(g["source"], g["kind"]): g["count"] for g in summary["groups"]}
    assert counts == {
        ("flink-metrics", "wrong_type"): 3,
        ("sink-postgres", "database_refused"): 2,
        ("flink-metrics", "null_value"): 1,
        ("flink-metrics", "not_json"): 1,
        ("producer", "orderbook.raw schema"): 1,
        ("?", "unreadable"): 1,
    }
    first = summary["groups"][0]
    assert first["topics"] == [poisoned["raw"]]
    assert first["example_origin"].startswith(f"{poisoned['raw']}[")
    assert first["first_ms"] <= first["last_ms"]

    narrowed = json_lines(
        run_obm(
            dlq,
            "--from",
            "earliest",
            "--source",
            "flink-metrics",
            "--reason-contains",
            "WRONG",
            "--output",
            "json",
        )
    )[0]
    assert [(g["kind"], g["count"]) for g in narrowed["groups"]] == [("wrong_type", 3)]
    assert (
        json_lines(run_obm(dlq, "--from", "earliest", "--limit", "2", "--output", "json"))[0]["records"] == 2
    )

    text = run_obm(dlq, "--from", "earliest").stdout
    assert "flink-metrics" in text and "wrong_type" in text and "e.g. " in text


def test_tail_shows_dlq_records_decoded(run_obm: Callable[..., Result], poisoned) -> None:
    lines = run_obm(tail, "orderbook.dlq", "--from", "earliest", "--no-follow").stdout.splitlines()
    assert len(lines) == 9
    assert f"[flink-metrics] {poisoned['raw']}[" in lines[0]
    assert f"key {SOL}: wrong_type: bid_prices is a string | payload: {{" in lines[0]
    assert "payload: \\xff\\xfe{" in lines[4]  # the base64 payload shown as the bytes it holds
    assert "INVALID" in lines[8]


def test_replay_from_dlq_puts_the_original_bytes_back(
    run_obm: Callable[..., Result], isolated_kafka: KafkaSettings, poisoned
) -> None:
    dry = run_obm(
        replay, "--from-dlq", "orderbook.raw", "--source", "flink-metrics", "--from", "earliest", "--dry-run"
    )
    assert "would put back 5 record(s)" in dry.stdout
    assert len(read_all(isolated_kafka, poisoned["raw"], 3)) == 5

    done = run_obm(replay, "--from-dlq", "orderbook.raw", "--from", "earliest")
    assert done.exit_code == 0, done.output
    assert (
        "put back 5 record(s)" in done.stdout and "skipped 2 of other topics, 2 not replayable" in done.stdout
    )

    after = read_all(isolated_kafka, poisoned["raw"], 3)
    assert len(after) == 10
    before = {(p, o) for p, o, _, _ in poisoned["on_raw"]}
    copies = [(p, k, v) for p, o, k, v in after if (p, o) not in before]
    # the same bytes, under the same key, on the same partition
    assert sorted(copies) == sorted((p, k, v) for p, _, k, v in poisoned["on_raw"])


@pytest.mark.unit
def test_replay_from_dlq_needs_exactly_one_topic() -> None:
    result = CliRunner().invoke(replay, ["--from-dlq"], obj=None)
    assert result.exit_code == 2 and "--from-dlq takes one topic" in result.output
    result = CliRunner().invoke(replay, ["a", "b", "--source", "x"], obj=None)
    assert result.exit_code == 2 and "only go with --from-dlq" in result.output


@pytest.mark.unit
def test_reason_kind() -> None:
    assert reason_kind("wrong_type: bid_prices[0] is a string") == "wrong_type"
    assert (
        reason_kind("rejected by PostgreSQL (metrics): value too long") == "rejected by PostgreSQL (metrics)"
    )
    assert reason_kind("no colon here") == "no colon here"
    assert reason_kind(": starts with a colon") == ": starts with a colon"
    assert reason_kind("") == "unspecified"
