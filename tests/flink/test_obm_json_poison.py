"""The `obm-json` format with a topic's contract (what every Kafka source of the jobs sets):
conforming records read exactly as with Flink's `json` format (and as without a contract), and
every record that breaks the contract, one of each kind of poison, is a row with its reason, its
original bytes and their encoding instead of an error or nothing. Bounded file sources through a
local environment; the same on Kafka with the jobs is tests/flink/test_jobs_poison.py."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import orjson
import pytest

from config import ContractSettings
from flink_jobs.connectors import (
    REJECT_COLUMNS,
    REJECT_PAYLOAD,
    REJECT_PAYLOAD_ENCODING,
    REJECT_REASON,
    contract_format_options,
    schema_columns,
)
from schemas import Topic
from tests.flink.poison_cases import poison_cases, processed_example, retimed
from tests.flink.test_obm_json_format import (
    FULL,
    JSON,
    OBM_JSON,
    Columns,
    _as_records,
    _canon,
    _read,
    _write_lines,
    capture_raw_records,
)

pytestmark = pytest.mark.integration

# The defaults as deployed (the age bound: the topic's retention), whatever the session's
# environment says (tests/flink/conftest.py widens it for the jobs that replay 2024 data).
DEPLOYED = ContractSettings(max_age_ms=0)


def _checked(topic: Topic, contract: ContractSettings | None = None) -> tuple[Columns, dict[str, str]]:
    """Columns and options of a source that checks `topic`'s contract, as the jobs' sources do."""
    columns = schema_columns(topic) + [(c, "STRING") for c in REJECT_COLUMNS]
    options = OBM_JSON | contract_format_options(topic, contract or DEPLOYED, "obm-json.")
    return columns, options


def _original(row: dict[str, Any]) -> bytes:
    if row[REJECT_PAYLOAD_ENCODING] == "base64":
        return base64.b64decode(row[REJECT_PAYLOAD])
    return str(row[REJECT_PAYLOAD]).encode()


def test_conforming_records_read_the_same_with_the_contract(local_table_env, tmp_path) -> None:
    """Real records (the capture, moved to today) and processed-shaped ones: with the contract
    every one conforms and reads as with Flink's json, the reject columns NULL."""
    for topic, records in (
        (Topic.RAW, retimed(capture_raw_records(300))),
        (Topic.PROCESSED, [processed_example() | {"sequence_id": i} for i in range(50)]),
    ):
        folder = _write_lines(tmp_path / f"in-{uuid.uuid4().hex[:8]}", [orjson.dumps(r) for r in records])
        flink_rows = _read(local_table_env, folder, schema_columns(topic), JSON)
        columns, options = _checked(topic)
        checked = _read(local_table_env, folder, columns, options)
        assert len(checked) == len(records)
        assert [row[-3:] for row in checked] == [(None, None, None)] * len(records)
        diffs = [
            i for i, (f, c) in enumerate(zip(flink_rows, checked, strict=True)) if _canon(f) != _canon(c[:-3])
        ]
        assert not diffs, f"{topic}: rows {diffs[:10]} differ from Flink's json"
        assert _as_records(schema_columns(topic), [row[:-3] for row in checked]) == [
            {c: r.get(c) for c, _ in schema_columns(topic)} for r in records
        ]


@pytest.mark.parametrize("topic", [Topic.RAW, Topic.PROCESSED])
def test_every_kind_of_poison_is_a_row_with_its_reason_and_the_original_bytes(
    local_table_env, tmp_path, topic
) -> None:
    now = int(time.time() * 1000)
    good = retimed(capture_raw_records(3), now)[-1] if topic is Topic.RAW else processed_example(now)
    cases = poison_cases(topic, good, now)
    lines: list[str | bytes] = [orjson.dumps(good)]
    for case in cases:
        lines += [case.payload, orjson.dumps(good)]
    columns, options = _checked(topic)
    folder = _write_lines(tmp_path / "in", lines)
    rows = [
        dict(zip([c for c, _ in columns], row, strict=True))
        for row in _read(local_table_env, folder, columns, options)
    ]

    assert len(rows) == len(lines), "a message was dropped"
    good_rows, rejected = rows[0::2], rows[1::2]
    assert all(r[REJECT_REASON] is None and r["sequence_id"] == good["sequence_id"] for r in good_rows)
    problems = []
    for case, row in zip(cases, rejected, strict=True):
        reason = row[REJECT_REASON] or ""
        if not reason.startswith(f"{case.kind}: "):
            problems.append(f"{case.name}: expected {case.kind}, got {reason!r}")
        if _original(row) != case.payload:
            problems.append(f"{case.name}: payload {row[REJECT_PAYLOAD]!r} is not the original")
        if any(row[c] is not None for c, _ in schema_columns(topic)):
            problems.append(f"{case.name}: a contract column is set on a rejected row")
    assert not problems, "\n".join(problems)
    # the reasons say what is wrong, where
    by_name = {case.name: row[REJECT_REASON] for case, row in zip(cases, rejected, strict=True)}
    assert by_name["wrong type"] == "wrong_type: sequence_id: expected an integer, got a string"
    assert by_name["missing field"] == "missing_field: required field sequence_id is missing"
    assert by_name["extra field"] == f'unexpected_field: "debug" is not a field of {topic.value}'
    assert by_name["far ahead"].startswith(f"event_time_ahead: event_time {now + 86_400_000} is ")
    encoded = {
        case.name
        for case, row in zip(cases, rejected, strict=True)
        if row[REJECT_PAYLOAD_ENCODING] != "utf-8"
    }
    assert encoded == {"not UTF-8"}
    if topic is Topic.RAW:
        assert by_name["issue 20's record"] == "wrong_type: bid_prices: expected an array, got a string"
        assert by_name["null in an array"] == "null_value: ask_sizes[0] is null"
        assert by_name["unequal lengths"].startswith(
            "unequal_length: ask_prices has 20 items but ask_sizes has 19"
        )
        assert by_name["empty side"] == "item_count: bid_prices has 0 items, at least 1 needed"


def test_event_time_bounds_are_the_settings(local_table_env, tmp_path) -> None:
    """A venue's clock skew inside the future bound is fine; the age bound is the setting, or the
    topic's retention (1 day for orderbook.raw) when the setting is 0."""
    now = int(time.time() * 1000)
    base = retimed(capture_raw_records(1), now)[0]
    times = [now + 60_000, now + 600_000, now - 2 * 3_600_000, now - 2 * 86_400_000]
    folder = _write_lines(tmp_path / "in", [orjson.dumps(base | {"event_time": t}) for t in times])
    for contract, expected in (
        (DEPLOYED, [None, "event_time_ahead", None, "event_time_too_old"]),
        (
            ContractSettings(max_future_ms=900_000, max_age_ms=3_600_000),
            [None, None, "event_time_too_old", "event_time_too_old"],
        ),
    ):
        columns, options = _checked(Topic.RAW, contract)
        reasons = [row[-3] for row in _read(local_table_env, folder, columns, options)]
        assert [r.split(":")[0] if r else None for r in reasons] == expected


def test_a_table_that_disagrees_with_its_contract_fails_when_it_is_used(local_table_env, tmp_path) -> None:
    folder = _write_lines(tmp_path / "in", [FULL])
    columns, options = _checked(Topic.RAW)
    with pytest.raises(Exception, match="column `nope` is not a field of orderbook.raw"):
        _read(local_table_env, folder, columns + [("nope", "STRING")], options)
    with pytest.raises(Exception, match="column `sequence_id` cannot hold an integer"):
        _read(
            local_table_env, folder, [(c, "DOUBLE" if c == "sequence_id" else t) for c, t in columns], options
        )
    with pytest.raises(Exception, match="needs a STRING column `obm_payload`"):
        _read(local_table_env, folder, [(c, t) for c, t in columns if c != REJECT_PAYLOAD], options)
