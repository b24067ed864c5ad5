"""Column-wise batch decoding must decode a batch to exactly the records the contract accepts
(orjson, then schemas.conformance.nonconformity at the batch's instant), with `nonconformity`'s
reasons and the right kinds for the others; and the column path must really be taken for
well-formed batches (else the sinks silently fall back to the slow path). The helpers here
(`full_example`, `mutated`, `poisoned`, `conforms`, `contract_at`) are the shared agreement
harness of the decoder tests."""

import random

import orjson
import pytest
from contract_cases import conforms, contract_at, full_example, poisoned, record

from schemas import load_schema
from schemas.topics import Topic
from sinks.decoding.columns import decode_columns
from sinks.decoding.contract import RejectedRecord, RejectKind
from sinks.decoding.records import decode_record

pytestmark = pytest.mark.unit

_COLUMN_TOPICS = [Topic.PROCESSED, Topic.BARS, Topic.ALERTS]


@pytest.mark.parametrize("topic", _COLUMN_TOPICS)
def test_hot_topics_have_a_column_path_that_takes_well_formed_batches(topic):
    recs = [record(topic, orjson.dumps(full_example(topic)), i) for i in range(50)]
    out = decode_columns(contract_at(topic), recs)
    assert out.column_path and out.records == recs and not out.rejects
    assert out.columns["symbol"] == ("ETHUSDT",) * 50
    assert out.types["symbol"] == frozenset({str})


@pytest.mark.parametrize("topic", _COLUMN_TOPICS)
def test_single_mutated_records_are_accepted_only_when_the_contract_accepts(topic):
    rng = random.Random(11)
    taken = declined = 0
    for i in range(2500):
        value = poisoned(topic, rng)
        out = decode_columns(contract_at(topic), [record(topic, value, i)])
        assert bool(out.records) == conforms(topic, value), value
        taken += out.column_path
        declined += not out.records
    assert taken > 0 and declined > 0  # some mutations stay valid and are judged column-wise


@pytest.mark.parametrize("topic", _COLUMN_TOPICS)
def test_mixed_batches_decode_like_record_by_record(topic):
    rng = random.Random(7)
    contract = contract_at(topic)
    for round_ in range(40):
        values: list[bytes | None] = []
        for _ in range(30):
            roll = rng.random()
            if roll < 0.85:
                values.append(orjson.dumps(full_example(topic)))
            elif roll < 0.95:
                values.append(poisoned(topic, rng))
            elif roll < 0.98:
                values.append(b'{"schema_version": 1, ')
            else:
                values.append(None)
        recs = [record(topic, v, round_ * 100 + i) for i, v in enumerate(values)]
        out = decode_columns(contract, recs)
        expected_ok, expected_rejects = [], []
        for rec in recs:
            try:
                decode_record(rec, contract)
                expected_ok.append(rec)
            except RejectedRecord as exc:
                expected_rejects.append((rec, exc.reason))
        assert out.records == expected_ok
        assert [(rec, exc.reason) for rec, exc in out.rejects] == expected_rejects
        assert [rec for rec in recs if conforms(topic, rec.value)] == expected_ok
        assert all(len(col) == len(expected_ok) for col in out.columns.values())


@pytest.mark.parametrize("topic", _COLUMN_TOPICS)
def test_a_batch_with_one_event_time_beyond_a_bound_is_judged_record_by_record(topic):
    field = load_schema(topic)["x-event-time"]
    contract = contract_at(topic)
    good = orjson.dumps(full_example(topic))
    for bad_time, kind in ((contract.latest_ms + 1, RejectKind.EVENT_TIME_AHEAD),
                           (contract.earliest_ms - 1, RejectKind.EVENT_TIME_TOO_OLD)):  # fmt: skip
        bad = orjson.dumps({**full_example(topic), field: bad_time})
        out = decode_columns(contract, [record(topic, v, i) for i, v in enumerate([good, bad, good])])
        assert not out.column_path and [r.offset for r in out.records] == [0, 2]
        [(rec, rejected)] = out.rejects
        assert (
            rec.offset == 1 and rejected.kind is kind and rejected.reason.startswith(f"{kind.value}: {field}")
        )
    at_bounds = [
        orjson.dumps({**full_example(topic), field: t}) for t in (contract.latest_ms, contract.earliest_ms)
    ]
    out = decode_columns(contract, [record(topic, v, i) for i, v in enumerate(at_bounds)])
    assert out.column_path and len(out.records) == 2  # the bounds themselves are inside


def test_optional_fields_left_out_read_as_null_columns():
    data = {k: v for k, v in full_example(Topic.PROCESSED).items() if k != "microprice"}
    out = decode_columns(contract_at(Topic.PROCESSED), [record(Topic.PROCESSED, orjson.dumps(data), 0)])
    assert len(out.records) == 1 and not out.column_path
    assert out.columns["microprice"] == (None,)
    assert out.types["microprice"] == frozenset({type(None)})
