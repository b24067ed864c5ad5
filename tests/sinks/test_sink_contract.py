"""The contract as the sinks apply it (sinks.decoding.contract and .records, .structs): every record
path agrees with the definition (orjson, then schemas.conformance.nonconformity) on mutated records
of every topic the sinks read, each poison kind gets its reject kind, and the parsers the fast paths
rely on cannot produce a non-finite number."""

import json
import random

import msgspec
import orjson
import pytest
from contract_cases import NON_FINITE_TOKENS, NOW_MS, conforms, contract_at, full_example, poisoned, record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config import ContractSettings
from obm.operator.topic_policy import TOPIC_POLICIES
from schemas import nonconformity
from schemas.topics import Topic
from sinks.decoding.contract import RejectedRecord, RejectKind, SinkContract
from sinks.decoding.records import decode_record
from sinks.decoding.structs import decode_structs, struct_decoder

pytestmark = pytest.mark.unit

_SINK_TOPICS = [Topic.PROCESSED, Topic.BARS, Topic.ALERTS, Topic.RAW]


def _kind(topic: Topic, value: bytes | None) -> RejectKind | None:
    try:
        decode_record(record(topic, value, 0), contract_at(topic))
    except RejectedRecord as exc:
        return exc.kind
    return None


@pytest.mark.parametrize("topic", [*_SINK_TOPICS, Topic.DLQ])
def test_the_record_path_and_the_struct_path_agree_with_the_definition(topic):
    rng = random.Random(31)
    contract = contract_at(topic)
    accepted = rejected = whole = 0
    for _ in range(2500):
        value = poisoned(topic, rng)
        ok = conforms(topic, value)
        assert (_kind(topic, value) is None) == ok, value
        structs = decode_structs(contract, [value])
        assert structs is None or ok, value  # the struct path may decline, never accept more
        whole += structs is not None
        accepted += ok
        rejected += not ok
    assert accepted and rejected
    assert whole or struct_decoder(topic) is None


@pytest.mark.parametrize("topic", _SINK_TOPICS)
def test_every_topic_the_sinks_read_has_a_struct_path_for_well_formed_batches(topic):
    values = [orjson.dumps(full_example(topic)) for _ in range(20)]
    structs = decode_structs(contract_at(topic), values)
    assert structs is not None and len(structs) == 20
    assert structs[0].symbol == "ETHUSDT"
    late = orjson.dumps({**full_example(topic), contract_at(topic).event_time_field: NOW_MS + 10**9})
    assert decode_structs(contract_at(topic), [*values, late]) is None


def _parses(value: bytes) -> bool:
    try:
        orjson.loads(value)
        return True
    except orjson.JSONDecodeError:
        return False


def _example_bytes(topic: Topic, **changes) -> bytes:
    return orjson.dumps({**full_example(topic), **changes})


def _without(topic: Topic, name: str) -> bytes:
    return orjson.dumps({k: v for k, v in full_example(topic).items() if k != name})


@pytest.mark.parametrize("topic", _SINK_TOPICS)
def test_each_kind_of_poison_gets_its_reject_kind(topic):
    c = contract_at(topic)
    field = c.event_time_field
    number = {Topic.PROCESSED: "mid", Topic.BARS: "mid_close", Topic.ALERTS: "metric_value",
              Topic.RAW: "bid_prices"}[topic]  # fmt: skip
    good = orjson.dumps(full_example(topic))
    cases: list[tuple[bytes | None, RejectKind]] = [
        (b'{"schema_version": 1, "exchange": ', RejectKind.NOT_JSON),
        (b"\xff\xfe not text", RejectKind.NOT_JSON),
        (None, RejectKind.NOT_JSON),
        (_example_bytes(topic, symbol=42), RejectKind.SCHEMA),
        (_example_bytes(topic, exchange=None), RejectKind.SCHEMA),
        (_without(topic, "symbol"), RejectKind.SCHEMA),
        (_example_bytes(topic, unexpected=1), RejectKind.SCHEMA),
        (_example_bytes(topic, **{field: c.latest_ms + 1}), RejectKind.EVENT_TIME_AHEAD),
        (_example_bytes(topic, **{field: c.earliest_ms - 1}), RejectKind.EVENT_TIME_TOO_OLD),
        (good.replace(b'"ETHUSDT"', b'"ETHUSDT","ETHUSDT":1', 1), RejectKind.SCHEMA),  # duplicate: last wins
    ]
    for token in NON_FINITE_TOKENS:
        if topic is Topic.RAW:  # a negative infinity breaks the price's minimum first, as nonconformity says
            kind = RejectKind.SCHEMA if token.startswith(b"-") else RejectKind.NOT_FINITE
            cases.append((good.replace(b'"bid_prices":[2511.5', b'"bid_prices":[' + token, 1), kind))
        else:
            cases.append(
                (_example_bytes(topic, **{number: 7.5}).replace(b"7.5", token, 1), RejectKind.NOT_FINITE)
            )
    if topic is Topic.RAW:
        ex = full_example(topic)
        cases += [
            (_example_bytes(topic, bid_sizes=ex["bid_sizes"][:-1]), RejectKind.UNEQUAL_LENGTH),
            (_example_bytes(topic, ask_prices=[*ex["ask_prices"], 2511.7]), RejectKind.UNEQUAL_LENGTH),
            (_example_bytes(topic, bid_prices=[], bid_sizes=[]), RejectKind.SCHEMA),  # an empty side
            (_example_bytes(topic, ask_sizes=[None, 1.25]), RejectKind.SCHEMA),  # null in an array
            (_example_bytes(topic, bid_sizes=[-1.0, 0.5]), RejectKind.SCHEMA),  # a negative size
            (_example_bytes(topic, bid_prices="x"), RejectKind.SCHEMA),
        ]
    else:
        cases.append((_example_bytes(topic, **{number: "1.5"}), RejectKind.SCHEMA))
    for value, kind in cases:
        assert _kind(topic, value) is kind, (value, kind)
        if value is not None and _parses(value):
            reason = nonconformity(topic, orjson.loads(value), now_ms=NOW_MS, max_future_ms=c.max_future_ms,
                                   max_age_ms=c.max_age_ms)  # fmt: skip
            with pytest.raises(RejectedRecord) as exc:
                decode_record(record(topic, value, 0), c)
            assert exc.value.reason == f"{kind.value}: {reason}"  # the definition's reason, kind first
    assert _kind(topic, good) is None


def test_a_non_finite_number_is_named_in_the_reason():
    value = _example_bytes(Topic.PROCESSED, mid=7.5).replace(b"7.5", b"NaN", 1)
    with pytest.raises(RejectedRecord) as exc:
        decode_record(record(Topic.PROCESSED, value, 0), contract_at(Topic.PROCESSED))
    assert exc.value.reason == "not_finite: orderbook.processed: mid is not a finite number"


@pytest.mark.parametrize("token", NON_FINITE_TOKENS)
def test_the_fast_paths_parsers_refuse_every_non_finite_number(token):
    """Why the fast paths need no finiteness check: no record they decode can hold one."""
    for text in (token, b"[" + token + b"]", b'{"a": ' + token + b"}"):
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(text)
        with pytest.raises(msgspec.DecodeError):
            msgspec.json.decode(text)
        assert json.loads(text) is not None  # Python's json reads them: the fallback for the reason


def test_the_age_bound_is_the_topics_retention_unless_set():
    by_retention = SinkContract.from_settings(ContractSettings())
    assert {t: by_retention.max_age_ms[t] for t in Topic} == {
        t: TOPIC_POLICIES[t].retention_ms for t in Topic
    }
    assert by_retention.max_future_ms == 300_000
    fixed = SinkContract.from_settings(ContractSettings(max_age_ms=60_000, max_future_ms=2_000))
    c = fixed.at(Topic.PROCESSED, NOW_MS)
    assert (c.earliest_ms, c.latest_ms) == (NOW_MS - 60_000, NOW_MS + 2_000)


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


@pytest.mark.parametrize("topic", _SINK_TOPICS)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_change_to_a_record_is_judged_alike_by_every_path_and_never_raises(topic, data):
    """Hypothesis: a field of a good record set to any JSON value (NaN and infinities written as
    Python's json writes them), dropped, or added; or bytes that are not JSON at all."""
    example = full_example(topic)
    choice = data.draw(st.sampled_from(["set", "drop", "add", "bytes"]))
    if choice == "bytes":
        value = data.draw(st.binary(max_size=64))
    else:
        rec = dict(example)
        name = data.draw(st.sampled_from(sorted(rec)))
        if choice == "drop":
            del rec[name]
        else:
            rec[name if choice == "set" else data.draw(st.text(max_size=8))] = data.draw(_JSON_VALUES)
        value = json.dumps(rec).encode()
    ok = conforms(topic, value)
    assert (_kind(topic, value) is None) == ok  # RejectedRecord is the only way to say no
    structs = decode_structs(contract_at(topic), [value])
    assert structs is None or ok
