"""Property tests (hypothesis) of the Java code that sees every record: the obm-json format with a
topic's contract and the metrics job's functions, on real records mutated every way (types, nulls,
lengths, numbers, extra and missing fields, event times, truncated or garbled bytes).

- The format never raises and never drops: every message is a row, and it is rejected exactly
  when schemas/conformance.py (the Python definition of the same contract) rejects it; a
  conforming record reads as its JSON says.
- BookSumsFunction never raises, whatever arrays (nulls, NaN, infinities, any lengths) and
  parameters it is given.
- The metrics job's logic (BookSumsFunction and BookFlowFunction) runs to completion on every
  mix of conforming records: all the rows those functions can receive.

The Java classes are called directly through PyFlink's gateway (a call costs microseconds, a job
per example would cost seconds); the last property runs bounded jobs, a few examples."""

from __future__ import annotations

import base64
import json
import math
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config import ContractSettings, MetricsJobSettings
from flink_jobs.connectors import (
    REJECT_COLUMNS,
    REJECT_PAYLOAD,
    REJECT_PAYLOAD_ENCODING,
    REJECT_REASON,
    format_contract,
    max_age_ms,
    schema_columns,
)
from flink_jobs.environment import functions_jar
from flink_jobs.metrics import metrics_table
from schemas import Topic
from schemas.conformance import nonconformity
from tests.flink.poison_cases import processed_example, retimed
from tests.flink.test_obm_json_format import capture_raw_records, synthetic_records

pytestmark = pytest.mark.integration

TOPICS = (Topic.RAW, Topic.PROCESSED)
# The format's reject kinds (RejectKind.java), each a counter obm_rejected_<kind>.
KINDS = (
    "not_json", "not_an_object", "wrong_type", "null_value", "missing_field", "unexpected_field",
    "duplicate_field", "not_finite", "out_of_range", "item_count", "unequal_length", "not_allowed",
    "event_time_ahead", "event_time_too_old", "unreadable",
)  # fmt: skip
CONTRACT = ContractSettings(max_age_ms=0)  # as deployed, whatever the session's environment says
LONG_MAX = 2**63 - 1
# An event time this close to a bound may be judged either way by two clocks a moment apart.
BOUND_MARGIN_MS = 10_000
PROPERTY = settings(
    max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


class Java:
    """The jar's classes through PyFlink's gateway."""

    def __init__(self) -> None:
        from pyflink.java_gateway import get_gateway
        from pyflink.util.java_utils import add_jars_to_context_class_loader

        jar = functions_jar()
        assert jar is not None, "the functions jar is missing: run scripts/bootstrap.sh"
        add_jars_to_context_class_loader([jar.as_uri()])
        self.gateway = get_gateway()
        self.jvm = self.gateway.jvm
        self.formats = {topic: self._deserializer(topic) for topic in TOPICS}
        self.sums = self.jvm.io.orderbookmonitor.flink.BookSumsFunction()

    def _deserializer(self, topic: Topic) -> tuple[Any, list[str]]:
        jvm = self.jvm
        columns = schema_columns(topic) + [(c, "STRING") for c in REJECT_COLUMNS]
        row_type = jvm.org.apache.flink.table.types.logical.utils.LogicalTypeParser.parse(
            "ROW<" + ", ".join(f"`{c}` {t}" for c, t in columns) + ">",
            jvm.java.lang.Thread.currentThread().getContextClassLoader(),
        )
        type_info = jvm.org.apache.flink.table.runtime.typeutils.InternalTypeInfo.of(row_type)
        names = self.gateway.new_array(jvm.java.lang.String, len(REJECT_COLUMNS))
        for i, name in enumerate(REJECT_COLUMNS):
            names[i] = name
        schema = jvm.io.orderbookmonitor.flink.format.ObmJsonDeserializationSchema(
            row_type,
            type_info,
            json.dumps(format_contract(topic)),
            CONTRACT.max_future_ms,
            max_age_ms(topic, CONTRACT),
            names,
            512 * 1024,
        )
        return schema, [c for c, _ in columns]

    def read(self, topic: Topic, message: bytes) -> dict[str, Any]:
        """The row of one message, as Python values (arrays as lists, strings as str)."""
        schema, names = self.formats[topic]
        row = schema.deserialize(bytearray(message))
        assert row is not None, "a message gave no row"
        return {name: self._value(row.getField(i)) for i, name in enumerate(names)}

    def _value(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value
        cls = value.getClass().getSimpleName()
        if cls == "GenericArrayData":
            return [self._value(v) for v in value.toObjectArray()]
        return value.toString()

    def doubles(self, values: list[float | None] | None) -> Any:
        """An ARRAY<DOUBLE> value: primitive without nulls, boxed with them, as the format builds them."""
        if values is None:
            return None
        data = self.jvm.org.apache.flink.table.data.GenericArrayData
        if all(v is not None for v in values):
            array = self.gateway.new_array(self.gateway.jvm.double, len(values))
        else:
            array = self.gateway.new_array(self.jvm.java.lang.Object, len(values))
        for i, v in enumerate(values):
            array[i] = None if v is None else float(v)
        return data(array)


@pytest.fixture(scope="module")
def java(local_table_env) -> Java:  # the local environment starts the gateway with Flink's jars
    return Java()


# ---------------------------------------------------------------------------------------------
# mutated records


def _seeds() -> dict[Topic, list[dict[str, Any]]]:
    raw = retimed(capture_raw_records(40))
    example = processed_example()
    fixed = {k: example[k] for k in ("exchange", "market", "symbol", "event_time", "receive_time_ns")}
    processed = [example] + [r | fixed for r in synthetic_records(Topic.PROCESSED, 20, seed=3)]
    return {Topic.RAW: raw, Topic.PROCESSED: processed}


SEEDS = _seeds()
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -0.0, 1e-320, 1e308, 2**63, 2**63 - 1, -1]),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), NUMBERS, st.text(max_size=12), st.sampled_from(["spot", "ETHUSDT", "eth"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def mutated(draw: st.DrawFn, topic: Topic) -> tuple[dict[str, Any] | None, bytes]:
    """(the record, or None when the bytes were garbled after writing it; the message bytes)."""
    record: dict[str, Any] = dict(draw(st.sampled_from(SEEDS[topic])))
    fields = list(record)
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["set", "delete", "add", "array", "time"]))
        name = draw(st.sampled_from(fields))
        if action == "set":
            record[name] = draw(VALUES)
        elif action == "delete":
            record.pop(name, None)
        elif action == "add":
            record[draw(st.text(min_size=1, max_size=6))] = draw(VALUES)
        elif action == "time":
            shift = draw(
                st.sampled_from([60_000, -60_000, 3_600_000, -3_600_000, 86_400_000, -40 * 86_400_000])
            )
            record["event_time"] = int(time.time() * 1000) + shift
        elif isinstance(record.get(name), list):
            items = list(record[name])
            how = draw(st.sampled_from(["cut", "grow", "element", "empty"]))
            if how == "cut":
                items = items[: draw(st.integers(0, len(items)))]
            elif how == "grow":
                items += draw(st.lists(NUMBERS, max_size=3))
            elif how == "element" and items:
                items[draw(st.integers(0, len(items) - 1))] = draw(SCALARS)
            else:
                items = []
            record[name] = items
    message = json.dumps(record).encode()  # NaN and Infinity are written as such: not JSON
    garble = draw(st.sampled_from(["none"] * 6 + ["truncate", "insert", "replace"]))
    if garble == "truncate":
        message = message[: draw(st.integers(0, len(message)))]
    elif garble == "insert":
        at = draw(st.integers(0, len(message)))
        message = message[:at] + draw(st.binary(min_size=1, max_size=4)) + message[at:]
    elif garble == "replace":
        message = draw(st.binary(max_size=64))
    return (record if garble == "none" else None), message


def _python_verdict(topic: Topic, message: bytes) -> str | None:
    """Why the contract (schemas/conformance.py) rejects the message, None when it conforms, or
    "?" when an event time is within BOUND_MARGIN_MS of a bound (either verdict is right)."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in pairs}) != len(pairs):
            raise ValueError("duplicate field")  # the format rejects these (stricter than Python)
        return dict(pairs)

    try:
        record = json.loads(message.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (ValueError, RecursionError):
        return "not JSON"
    now = int(time.time() * 1000)
    bounds = {"max_future_ms": CONTRACT.max_future_ms, "max_age_ms": max_age_ms(topic, CONTRACT)}
    reason = nonconformity(topic, record, now_ms=now, **bounds)
    if isinstance(record, dict) and isinstance(record.get("event_time"), int):
        t = record["event_time"]
        if min(abs(t - now - bounds["max_future_ms"]), abs(t - now + bounds["max_age_ms"])) < BOUND_MARGIN_MS:
            return "?"
    if reason is None and _beyond_64_bits(topic, record):
        return "an integer beyond 64 bits (a BIGINT column cannot hold it)"
    return reason


def _beyond_64_bits(topic: Topic, record: dict[str, Any]) -> bool:
    """An integer field whose value JSON Schema allows but a BIGINT cannot hold."""
    integers = [name for name, sql_type in schema_columns(topic) if sql_type in ("BIGINT", "INT")]
    for name in integers:
        value = record.get(name)
        if isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) >= 2**63:
            return True
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > LONG_MAX:
            return True
    return False


@pytest.mark.parametrize("topic", TOPICS)
def test_the_format_never_raises_and_rejects_exactly_what_the_contract_rejects(java, topic) -> None:
    verdicts: list[str] = []
    rejected: list[str] = []  # every rejection's kind, as the format's counters must count them
    schema = java.formats[topic][0]
    counted_before = {kind: schema.rejectedCount(kind) for kind in KINDS}

    @PROPERTY
    @given(mutated(topic))
    def check(case: tuple[dict[str, Any] | None, bytes]) -> None:
        record, message = case
        row = java.read(topic, message)
        reason = row[REJECT_REASON]
        if reason is not None:
            rejected.append(reason.split(":")[0])
        expected = _python_verdict(topic, message)
        if expected == "?":
            return
        assert (reason is None) == (expected is None), f"Java: {reason!r}; Python: {expected!r}"
        verdicts.append("conforms" if reason is None else reason.split(":")[0])
        if reason is not None:
            kind, _, detail = reason.partition(": ")
            assert kind.isidentifier() and detail, reason
            encoding = row[REJECT_PAYLOAD_ENCODING]
            payload = row[REJECT_PAYLOAD]
            assert (base64.b64decode(payload) if encoding == "base64" else payload.encode()) == message
            assert all(row[c] is None for c, _ in schema_columns(topic))
        else:
            record = json.loads(message)  # garbling may leave valid JSON (a byte of whitespace)
            for name, _ in schema_columns(topic):
                assert row[name] == record.get(name), name

    check()
    # the mutations reach both sides and many kinds (the comparison is not between two "no")
    kinds = set(verdicts)
    assert verdicts.count("conforms") >= 20 and len(kinds) >= 8, sorted(Counter(verdicts).items())
    counted = {kind: schema.rejectedCount(kind) - counted_before[kind] for kind in KINDS}
    assert {k: n for k, n in counted.items() if n} == dict(Counter(rejected))


ARRAYS = st.one_of(st.none(), st.lists(st.one_of(st.none(), NUMBERS.map(float)), max_size=25))


@PROPERTY
@given(
    bid_prices=ARRAYS,
    bid_sizes=ARRAYS,
    ask_prices=ARRAYS,
    ask_sizes=ARRAYS,
    levels=st.one_of(st.none(), st.integers(-3, 30)),
    lam=st.one_of(st.none(), st.floats(allow_nan=True)),
    lows=st.one_of(st.none(), st.lists(st.one_of(st.none(), st.floats(allow_nan=True)), max_size=4)),
    highs=st.one_of(st.none(), st.lists(st.one_of(st.none(), st.floats(allow_nan=True)), max_size=4)),
)
def test_book_sums_never_raise(
    java, bid_prices, bid_sizes, ask_prices, ask_sizes, levels, lam, lows, highs
) -> None:
    row = java.sums.eval(
        java.doubles(bid_prices),
        java.doubles(bid_sizes),
        java.doubles(ask_prices),
        java.doubles(ask_sizes),
        levels,
        lam,
        java.doubles(lows),
        java.doubles(highs),
    )
    assert row is not None and row.getArity() == 7


def test_book_sums_on_mutated_capture_books(java) -> None:
    """The same with real books whose arrays were mutated (the shapes a feed really has)."""

    @PROPERTY
    @given(mutated(Topic.RAW))
    def check(case: tuple[dict[str, Any] | None, bytes]) -> None:
        record, _ = case
        if record is None:
            return

        def array(name: str) -> list[float | None] | None:
            value = record.get(name)
            if not isinstance(value, list):
                return None
            return [
                float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None for v in value
            ]

        job = MetricsJobSettings()
        row = java.sums.eval(
            java.doubles(array("bid_prices")),
            java.doubles(array("bid_sizes")),
            java.doubles(array("ask_prices")),
            java.doubles(array("ask_sizes")),
            job.book_levels,
            job.weighted_imbalance_lambda,
            java.doubles([1 - p / 100 for p in job.depth_pcts]),
            java.doubles([1 + p / 100 for p in job.depth_pcts]),
        )
        assert row.getArity() == 7

    check()


@settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(st.lists(mutated(Topic.RAW), min_size=100, max_size=200))
def test_metrics_logic_runs_on_every_mix_of_conforming_records(run_bounded, cases) -> None:
    """Every conforming record among the mutations, in the order drawn (times jumping back and
    forth, books of any depth and magnitude): the job's functions see them all and none fails."""
    records = [r for r, m in cases if r is not None and _python_verdict(Topic.RAW, m) is None]
    records += SEEDS[Topic.RAW][:5]
    out = run_bounded(Topic.RAW, records, lambda t: metrics_table(t, MetricsJobSettings()))
    assert sorted(r["sequence_id"] for r in out) == sorted(r["sequence_id"] for r in records)
