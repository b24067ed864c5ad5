"""The generated fast check may only ever accept what the full JSON Schema validator accepts, and
with the contract's rules beyond the schema (TopicContract.record_conforms) only what
`nonconformity` accepts: checked on the schema examples and on thousands of mutated records of
every topic."""

import json
import random

import orjson
import pytest
from contract_cases import NOW_MS, contract_at, mutated

from schemas import ValidationFailed, load_schema, nonconformity, validator_for
from schemas.topics import Topic
from sinks.decoding.contract import RejectedRecord
from sinks.decoding.fast_check import compile_fast_check
from sinks.postgres_rows import (
    ALERTS,
    BARS,
    METRICS,
    TIMESTAMPTZ,
    TableSpec,
    bars_row,
    metrics_row,
    ms_to_datetime,
    rows_from_columns,
)

pytestmark = pytest.mark.unit

ODD_VALUES = [None, True, False, 0, -1, 1, 1.0, -0.5, 2**63, "", "x", "BTCUSDT", "btc usdt", "spot", [], [1.0],
               [0.0], [-1.0], [1, "a"], {}, 1e308]  # fmt: skip


def _valid(topic, record) -> bool:
    try:
        validator_for(topic)(record)
        return True
    except ValidationFailed:
        return False


@pytest.mark.parametrize("topic", list(Topic))
def test_fast_check_never_accepts_what_the_schema_rejects(topic):
    schema = load_schema(topic)
    check = compile_fast_check(schema)
    assert check is not None, "the contract's schemas should all get a fast path"
    example = schema["examples"][0]
    assert check(example) and _valid(topic, example)
    rng = random.Random(5)
    props = list(schema["properties"])
    accepted = 0
    for _ in range(3000):
        rec = dict(example)
        for _ in range(rng.randint(1, 3)):
            action = rng.random()
            if action < 0.15 and rec:
                rec.pop(rng.choice(list(rec)))
            elif action < 0.2:
                rec["unexpected"] = 1
            else:
                rec[rng.choice(props)] = rng.choice(ODD_VALUES)
        if check(rec):
            accepted += 1
            assert _valid(topic, rec), rec
    assert accepted > 0  # mutations that stay valid are still taken by the fast path


@pytest.mark.parametrize("topic", list(Topic))
def test_fast_check_and_the_rules_beyond_the_schema_accept_only_what_nonconformity_accepts(topic):
    check = compile_fast_check(load_schema(topic))
    assert check is not None
    contract = contract_at(topic)
    rng = random.Random(17)
    taken = declined = 0
    for _ in range(3000):
        rec = orjson.loads(json.dumps(mutated(topic, rng)))  # as the sinks decode it
        fast = check(rec) and contract.record_conforms(rec)
        reason = nonconformity(topic, rec, now_ms=NOW_MS, max_future_ms=contract.max_future_ms,
                               max_age_ms=contract.max_age_ms)  # fmt: skip
        assert not fast or reason is None, (rec, reason)
        taken += fast
        declined += reason is not None
    assert taken and declined


def test_rows_follow_the_schema_fields_and_convert_times_exactly():
    assert METRICS.columns[0] == "ts" and "schema_version" not in METRICS.columns
    assert set(BARS.columns) == set(load_schema(Topic.BARS)["properties"]) - {"schema_version"}
    assert ALERTS.columns[0] == "ts"
    rec = dict(load_schema(Topic.PROCESSED)["examples"][0])
    row = metrics_row(rec)
    assert row[0] == ms_to_datetime(1723161240123)
    assert row[0].microsecond == 123_000 and row[0].utcoffset().total_seconds() == 0
    assert len(row) == len(METRICS.columns)
    bar = bars_row(load_schema(Topic.BARS)["examples"][0])
    assert bar[BARS.columns.index("window_end")] == ms_to_datetime(1723161241000)
    with pytest.raises(RejectedRecord, match="event_time"):
        metrics_row({**rec, "event_time": 10**17})


def test_rows_from_columns_send_times_as_binary_timestamptz_and_defer_odd_times():
    cols = {"event_time": (946_684_800_000, 946_684_800_001, 0), "exchange": ("a", "b", "c")}
    spec = TableSpec("t", ("ts", "exchange", "event_time"))
    types = {"event_time": frozenset({int}), "exchange": frozenset({str})}
    pg = [TIMESTAMPTZ, "text", "bigint"]
    copy_types, rows = rows_from_columns(spec, cols, types, pg)
    # microseconds since 2000-01-01 UTC: the 8 bytes binary COPY sends for a timestamptz
    assert copy_types == ["bigint", "text", "bigint"]
    assert rows == [(0, "a", 946_684_800_000), (1000, "b", 946_684_800_001), (-946_684_800_000_000, "c", 0)]
    assert (ms_to_datetime(946_684_800_001) - ms_to_datetime(946_684_800_000)).microseconds == 1000
    for odd in ((10**17,), (-(10**17),), (1.5,)):  # beyond year 9999 / before year 1 / not an integer
        odd_types = {"event_time": frozenset(map(type, odd)), "exchange": frozenset({str})}
        assert rows_from_columns(spec, {"event_time": odd, "exchange": ("a",)}, odd_types, pg) is None
