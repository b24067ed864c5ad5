"""Pure logic of the operator commands: positions, offsets, key filter, topic names, decoding."""

from __future__ import annotations

import click
import orjson
import pytest
from click.testing import CliRunner
from confluent_kafka import TIMESTAMP_CREATE_TIME, Message
from operator_records import example_record

from config import KafkaSettings
from obm.operator.positions import POSITION, Position, offset_for, parse_position
from obm.operator.record_view import decode_record, format_line, key_matches
from obm.operator.topic_policy import TOPIC_POLICIES, contract_topic_of, full_topic_name, policy_for
from schemas import Topic

pytestmark = pytest.mark.unit

NOW_MS = 1_763_719_200_000  # 2025-11-21T10:00:00Z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("earliest", Position("earliest")),
        ("LATEST", Position("latest")),
        ("1234", Position("offset", 1234)),
        ("-100", Position("offset", -100)),
        ("2025-11-21T10:00:00Z", Position("time", NOW_MS)),
        ("2025-11-21T10:00:00", Position("time", NOW_MS)),  # naive means UTC
        ("2025-11-21T11:00:00+01:00", Position("time", NOW_MS)),
        ("15m", Position("time", NOW_MS - 15 * 60_000)),
        ("2h", Position("time", NOW_MS - 2 * 3_600_000)),
        ("1.5s", Position("time", NOW_MS - 1_500)),
    ],
)
def test_parse_position_forms(text: str, expected: Position) -> None:
    assert parse_position(text, now_ms=NOW_MS) == expected


@pytest.mark.parametrize("text", ["yesterday", "12x", "2025-13-40", ""])
def test_parse_position_rejects_with_the_forms_listed(text: str) -> None:
    with pytest.raises(ValueError, match="earliest, latest"):
        parse_position(text)


def test_position_type_fails_at_click_parse_time() -> None:
    @click.command()
    @click.option("--from", "start", type=POSITION)
    def cmd(start: Position) -> None:
        click.echo(start.kind)

    bad = CliRunner().invoke(cmd, ["--from", "soon"])
    assert bad.exit_code == 2 and "is not a position" in bad.output
    assert CliRunner().invoke(cmd, ["--from", "-5"]).output.strip() == "offset"


@pytest.mark.parametrize(
    ("position", "time_offset", "expected"),
    [
        (Position("earliest"), None, 10),
        (Position("latest"), None, 50),
        (Position("offset", 30), None, 30),
        (Position("offset", 3), None, 10),  # below what the log still holds: clamped to low
        (Position("offset", 99), None, 50),
        (Position("offset", -5), None, 45),
        (Position("offset", -500), None, 10),
        (Position("time", 1), 42, 42),
        (Position("time", 1), -1, 50),  # nothing at or after that time: the end
        (Position("time", 1), None, 50),
    ],
)
def test_offset_for(position: Position, time_offset: int | None, expected: int) -> None:
    assert offset_for(position, low=10, high=50, time_offset=time_offset) == expected


def test_key_matches_exact_and_bare_symbol() -> None:
    assert key_matches("binance:BTCUSDT", "binance:BTCUSDT")
    assert key_matches("binance:BTCUSDT", "btcusdt")
    assert not key_matches("binance:BTCUSDT", "binance_usdm:BTCUSDT")
    assert not key_matches("binance:ETHUSDT", "BTCUSDT")
    assert not key_matches(None, "BTCUSDT")


def test_topic_names_and_schemas_with_prefix() -> None:
    s = KafkaSettings(topic_prefix="t1.")
    assert full_topic_name("orderbook.raw", s) == "t1.orderbook.raw"
    assert full_topic_name("debug.copy", s) == "debug.copy"
    assert contract_topic_of("t1.orderbook.alerts", s) is Topic.ALERTS
    assert contract_topic_of("debug.orderbook.processed", s) is Topic.PROCESSED
    assert contract_topic_of("something.else", s) is None
    assert policy_for("t1.orderbook.dlq", s) == TOPIC_POLICIES[Topic.DLQ]
    assert TOPIC_POLICIES[Topic.DLQ].partition_count(s) == 1
    assert TOPIC_POLICIES[Topic.RAW].partition_count(s) == s.partitions
    assert set(TOPIC_POLICIES) == set(Topic)


def _msg(value: bytes | None, key: bytes | None = b"binance:ETHUSDT") -> Message:
    return Message(
        topic="t", partition=2, offset=7, key=key, value=value, timestamp=(TIMESTAMP_CREATE_TIME, NOW_MS)
    )


def test_decode_valid_invalid_and_undecodable_records() -> None:
    good = decode_record(_msg(orjson.dumps(example_record(Topic.RAW))), Topic.RAW)
    assert good.valid and good.value["symbol"] == "ETHUSDT" and good.key == "binance:ETHUSDT"
    assert (good.partition, good.offset, good.timestamp_ms) == (2, 7, NOW_MS)

    broken = example_record(Topic.RAW)
    del broken["sequence_id"]
    bad = decode_record(_msg(orjson.dumps(broken)), Topic.RAW)
    assert not bad.valid and "sequence_id" in bad.error and bad.value["symbol"] == "ETHUSDT"

    text = decode_record(_msg(b"hello {"), Topic.RAW)
    assert not text.valid and text.error.startswith("not JSON") and text.value == "hello {"

    tomb = decode_record(_msg(None), Topic.RAW)
    assert tomb.error == "null value (tombstone)"

    no_schema = decode_record(_msg(b'{"anything": 1}'), None)
    assert no_schema.valid and no_schema.schema is None


def test_format_line_marks_invalid_records() -> None:
    bad = decode_record(_msg(b'{"schema_version": 1}'), Topic.RAW)
    line = format_line(bad, color=False)
    assert line.startswith("2025-11-21T10:00:00.000Z p2@7 binance:ETHUSDT INVALID (")
    assert line.endswith('{"schema_version":1}')
    good = format_line(decode_record(_msg(orjson.dumps(example_record(Topic.RAW))), Topic.RAW), color=False)
    assert "INVALID" not in good and '"symbol":"ETHUSDT"' in good


def test_terminal_errors_are_one_line_and_the_trace_goes_to_the_state_folder(tmp_path) -> None:
    """`obm up --live` without network: the producer exits at start; its log tail ends in the DNS
    error. The terminal gets one line naming it; the log in the state folder gets everything."""
    from flink_jobs.flink_rest import JobLifecycleError
    from obm.stack.failures import one_line, record_failure
    from obm.stack.health import StartupFailed

    tail = "\n".join(
        [
            "INFO producer starting, 3 symbols",
            "Traceback (most recent call last):",
            '  File "/x/producer/rest.py", line 40, in snapshot',
            "socket.gaierror: [Errno -3] Temporary failure in name resolution",
            "INFO producer stopped",
        ]
    )
    exc = StartupFailed(f"producer: process exited during start-up\n{tail}")
    assert one_line(exc) == (
        "producer: process exited during start-up (socket.gaierror: [Errno -3] Temporary failure in name resolution)"
    )
    flink = JobLifecycleError(
        "stop with savepoint of j failed: CheckpointException: not running", "x" * 40_000
    )
    assert one_line(flink) == "stop with savepoint of j failed: CheckpointException: not running"
    try:
        raise flink
    except JobLifecycleError as raised:
        log = record_failure(tmp_path, "obm down", raised)
    text = log.read_text()
    assert log == tmp_path / "logs" / "obm.log" and "x" * 40_000 in text and "Traceback" in text
