"""Column-wise batch validation must decode a batch to exactly the records the full JSON Schema
validator accepts, with the same reasons for the others; and the column path must really be taken
for well-formed batches (else the sinks silently fall back to the slow path)."""

import json
import random

import orjson
import pytest

from schemas import ValidationFailed, load_schema, validator_for
from schemas.topics import Topic
from sinks.batch_decoding import decode_columns, has_column_path
from sinks.batching import SinkRecord
from sinks.record_decoding import RejectedRecord, decode_record

pytestmark = pytest.mark.unit

_ODD_VALUES = [None, True, False, 0, -1, 1, 1.0, -0.5, 2**63, 2**64 + 1, "", "x", "BTCUSDT", "btc usdt", "B",
               "spot", "usdm", "1s", "5m", "high", "imbalance_flip", "ab\n", [], [1.0], {}, 1e308, -1e-300]  # fmt: skip
_COLUMN_TOPICS = [Topic.PROCESSED, Topic.BARS, Topic.ALERTS]


def _rec(topic: Topic, value: bytes | None, offset: int) -> SinkRecord:
    return SinkRecord(topic, topic.value, 0, offset, b"k", value, 1_723_161_240_000)


def _valid(topic: Topic, data) -> bool:
    try:
        validator_for(topic)(data)
        return True
    except ValidationFailed:
        return False


def _full_example(topic: Topic) -> dict:
    """The schema example with every property set (the shape the Flink jobs write)."""
    schema = load_schema(topic)
    rec = dict(schema["examples"][0])
    for name, spec in schema["properties"].items():
        if name not in rec:
            types = spec.get("type", [])
            rec[name] = None if "null" in types else (True if "boolean" in types else 1.5)
    assert _valid(topic, rec)
    return rec


def _mutated(topic: Topic, rng: random.Random) -> dict:
    rec = _full_example(topic)
    props = list(load_schema(topic)["properties"])
    for _ in range(rng.randint(1, 2)):
        action = rng.random()
        if action < 0.1:
            rec.pop(rng.choice(list(rec)))
        elif action < 0.15:
            rec["unexpected"] = 1
        else:
            rec[rng.choice(props)] = rng.choice(_ODD_VALUES)
    return rec


@pytest.mark.parametrize("topic", _COLUMN_TOPICS)
def test_hot_topics_have_a_column_path_that_takes_well_formed_batches(topic):
    assert has_column_path(topic)
    recs = [_rec(topic, orjson.dumps(_full_example(topic)), i) for i in range(50)]
    out = decode_columns(topic, recs)
    assert out.column_path and out.records == recs and not out.rejects
    assert out.columns["symbol"] == ("ETHUSDT",) * 50
    assert out.types["symbol"] == frozenset({str})


@pytest.mark.parametrize("topic", _COLUMN_TOPICS)
def test_single_mutated_records_are_accepted_only_when_the_full_validator_accepts(topic):
    rng = random.Random(11)
    taken = 0
    for i in range(2000):
        data = _mutated(topic, rng)
        out = decode_columns(topic, [_rec(topic, json.dumps(data).encode(), i)])  # big ints too
        assert bool(out.records) == _valid(topic, data), data
        taken += out.column_path
    assert taken > 0  # some mutations stay valid and are judged column-wise


@pytest.mark.parametrize("topic", _COLUMN_TOPICS)
def test_mixed_batches_decode_like_record_by_record(topic):
    rng = random.Random(7)
    for round_ in range(40):
        values: list[bytes | None] = []
        for _ in range(30):
            roll = rng.random()
            if roll < 0.85:
                values.append(orjson.dumps(_full_example(topic)))
            elif roll < 0.95:
                values.append(json.dumps(_mutated(topic, rng)).encode())
            elif roll < 0.98:
                values.append(b'{"schema_version": 1, ')
            else:
                values.append(None)
        recs = [_rec(topic, v, round_ * 100 + i) for i, v in enumerate(values)]
        out = decode_columns(topic, recs)
        expected_ok, expected_rejects = [], []
        for rec in recs:
            try:
                decode_record(rec)
                expected_ok.append(rec)
            except RejectedRecord as exc:
                expected_rejects.append((rec, exc.reason))
        assert out.records == expected_ok
        assert out.rejects == expected_rejects
        assert all(len(col) == len(expected_ok) for col in out.columns.values())


def test_optional_fields_left_out_read_as_null_columns():
    data = {k: v for k, v in _full_example(Topic.PROCESSED).items() if k != "microprice"}
    out = decode_columns(Topic.PROCESSED, [_rec(Topic.PROCESSED, orjson.dumps(data), 0)])
    assert len(out.records) == 1 and not out.column_path
    assert out.columns["microprice"] == (None,)
    assert out.types["microprice"] == frozenset({type(None)})
