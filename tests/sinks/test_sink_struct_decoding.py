"""The struct path (sinks.decoding.structs) must never accept a record the contract rejects (orjson,
then `nonconformity` at the batch's instant), must build exactly the rows the column path builds,
and must really be taken for well-formed batches (else the database sink silently falls back to
the slower paths). The column types come from the real tables (init-db.sql applied to the
session's PostgreSQL)."""

from __future__ import annotations

import json
import random
from typing import Any

import orjson
import pytest
from contract_cases import conforms, contract_at, full_example, poisoned, record

from schemas.topics import Topic
from sinks.decoding.columns import decode_columns
from sinks.decoding.structs import StructRows, struct_rows
from sinks.postgres_rows import ALERTS, BARS, METRICS, TIMESTAMPTZ, TableSpec, rows_from_columns
from sinks.postgres_sink import PostgresSink

pytestmark = pytest.mark.integration

# The alerts table is not on the struct path since alerts carry `context`, a nested object stored
# as jsonb: a COPY row from a Struct would hold a nested Struct, and re-encoding it could not keep
# the record's own keys (explicit nulls vs absent fields) as the column path does. Alerts are a few
# an hour per symbol; the column and record paths store them (test_sink_batch_decoding).
_TABLES = [(Topic.PROCESSED, METRICS), (Topic.BARS, BARS)]


def test_the_alerts_table_with_its_nested_context_is_left_to_the_column_path(table_types):
    assert struct_rows(Topic.ALERTS, ALERTS, table_types[ALERTS.table]) is None
    value = orjson.dumps(full_example(Topic.ALERTS))
    assert _column_rows(Topic.ALERTS, ALERTS, [value], table_types)


@pytest.fixture(scope="module")
def table_types(pg_settings) -> dict[str, tuple[str, ...]]:
    sink = PostgresSink(pg_settings)
    sink.setup()
    sink.close()
    return {table: tuple(types) for table, types in sink._types.items()}


def _struct_rows(topic: Topic, spec: TableSpec, table_types) -> StructRows:
    structs = struct_rows(topic, spec, table_types[spec.table])
    assert structs is not None, f"{topic.value} has no struct path"
    return structs


def _column_rows(topic: Topic, spec: TableSpec, values: list[bytes], table_types) -> list[tuple[Any, ...]]:
    decoded = decode_columns(contract_at(topic), [record(topic, v, i) for i, v in enumerate(values)])
    assert not decoded.rejects
    built = rows_from_columns(spec, decoded.columns, decoded.types, list(table_types[spec.table]))
    assert built is not None
    return built[1]


def _same_rows(struct_row: tuple, column_row: tuple, pg_types: tuple[str, ...]) -> bool:
    """Equal values of equal types, where a JSON integer in a double precision column counts as the
    float PostgreSQL stores (the struct path converts it before, psycopg after)."""
    for a, b, t in zip(struct_row, column_row, pg_types, strict=True):
        if t == "double precision" and b is not None:
            b = float(b)
        if t == TIMESTAMPTZ:
            t = "bigint"
        if a != b or type(a) is not type(b):
            return False
    return True


@pytest.mark.parametrize(("topic", "spec"), _TABLES)
def test_well_formed_batches_take_the_struct_path_and_build_the_column_paths_rows(topic, spec, table_types):
    structs = _struct_rows(topic, spec, table_types)
    values = [orjson.dumps({**full_example(topic), "sequence_id": i}) if topic is Topic.PROCESSED
              else orjson.dumps(full_example(topic)) for i in range(50)]  # fmt: skip
    rows = structs.rows(values, contract_at(topic))
    assert rows is not None and len(rows) == 50
    expected = _column_rows(topic, spec, values, table_types)
    assert all(_same_rows(a, b, table_types[spec.table]) for a, b in zip(rows, expected, strict=True))


@pytest.mark.parametrize(("topic", "spec"), _TABLES)
def test_mutated_records_are_taken_only_when_the_contract_accepts(topic, spec, table_types):
    structs = _struct_rows(topic, spec, table_types)
    rng = random.Random(23)
    taken = refused = 0
    for _ in range(2500):
        value = poisoned(topic, rng)
        rows = structs.rows([value], contract_at(topic))
        if rows is None:
            refused += 1
            continue
        assert conforms(topic, value), value
        assert _same_rows(
            rows[0], _column_rows(topic, spec, [value], table_types)[0], table_types[spec.table]
        )
        taken += 1
    assert taken > 0 and refused > 0


_EDGE_CASES: list[tuple[str, Any]] = [
    ("symbol", "BTCUSDT\n"),  # Python's `$` would match before a final newline, ECMA's does not
    ("symbol", "btcusdt"),
    ("exchange", ""),
    ("market", "SPOT"),
    ("market", None),
    ("schema_version", 2),
    ("schema_version", 1.0),
    ("schema_version", True),
    ("event_time", -1),
    ("event_time", 2**63),
    ("event_time", 2**70),
    ("event_time", 1.0),
    ("event_time", True),
    ("event_time", 1_723_161_300_000 + 300_001),  # ahead of the clock beyond the bound
    ("event_time", 1_723_161_300_000 - 7 * 86_400_000 - 1),  # older than the retention
    ("sequence_id", "1"),
    ("mid", True),
    ("mid", "1.5"),
    ("crossed", 1),
    ("crossed", "true"),
]


@pytest.mark.parametrize(("field", "value"), _EDGE_CASES)
def test_edge_values_are_refused_or_agree_with_the_contract(field, value, table_types):
    structs = _struct_rows(Topic.PROCESSED, METRICS, table_types)
    encoded = json.dumps({**full_example(Topic.PROCESSED), field: value}).encode()
    rows = structs.rows([encoded], contract_at(Topic.PROCESSED))
    assert rows is None or conforms(Topic.PROCESSED, encoded)
    assert rows is None  # every case above breaks the contract, or is not taken by this path


def test_malformed_missing_extra_and_empty_values_are_refused(table_types):
    structs = _struct_rows(Topic.PROCESSED, METRICS, table_types)
    good = full_example(Topic.PROCESSED)
    no_symbol = {k: v for k, v in good.items() if k != "symbol"}
    for value in [
        b'{"schema_version": 1, ',
        b"\xef\xbb\xbf" + orjson.dumps(good),  # a byte order mark
        orjson.dumps(good).replace(b'"mid":', b'"mid":NaN,"x":', 1),
        orjson.dumps(good).replace(b'"ETHUSDT"', b'"ETH\\ud800"', 1),  # a lone surrogate
        orjson.dumps(no_symbol),
        orjson.dumps({**good, "unexpected": 1}),
        orjson.dumps([good]),
        None,
    ]:
        assert structs.rows([orjson.dumps(good), value], contract_at(Topic.PROCESSED)) is None, value  # type: ignore[list-item]
    # optional fields left out read as NULL, like the row converters' d.get
    without = {k: v for k, v in good.items() if k != "microprice"}
    rows = structs.rows([orjson.dumps(without)], contract_at(Topic.PROCESSED))
    assert rows is not None and rows[0][METRICS.columns.index("microprice")] is None


def test_duplicate_keys_keep_the_last_value_like_orjson(table_types):
    structs = _struct_rows(Topic.PROCESSED, METRICS, table_types)
    value = orjson.dumps(full_example(Topic.PROCESSED))[:-1] + b',"mid":7.25}'
    rows = structs.rows([value], contract_at(Topic.PROCESSED))
    assert rows is not None and rows[0][METRICS.columns.index("mid")] == orjson.loads(value)["mid"] == 7.25
