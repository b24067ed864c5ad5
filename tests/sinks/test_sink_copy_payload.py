"""The column-built binary COPY payload must be byte for byte what psycopg's own row formatter
produces for the same values (datetimes for the time columns), and must refuse, rather than
convert some other way, every value the row path treats differently."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from psycopg import postgres
from psycopg._copy_base import _binary_signature, _binary_trailer, format_row_binary
from psycopg.adapt import Transformer
from psycopg.pq import Format

from sinks.copy_payload import MAX_MS, MIN_MS, TIMESTAMPTZ, UnsupportedColumns, binary_copy_payload

pytestmark = pytest.mark.unit

_OID_NAMES = {TIMESTAMPTZ: "timestamptz", "double precision": "float8", "bigint": "int8", "boolean": "bool",
              "text": "text"}  # fmt: skip
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _psycopg_payload(pg_types: list[str], columns: list[list]) -> bytes:
    tx = Transformer()
    tx.set_dumper_types([postgres.types[_OID_NAMES[t]].oid for t in pg_types], Format.BINARY)
    buf = bytearray()
    for i in range(len(columns[0])):
        row = [(_EPOCH + timedelta(milliseconds=col[i])) if t == TIMESTAMPTZ else col[i]
               for t, col in zip(pg_types, columns, strict=True)]  # fmt: skip
        format_row_binary(row, tx, buf)
    return _binary_signature + bytes(buf) + _binary_trailer


def _random_column(pg_type: str, n: int, rng: random.Random, nulls: bool) -> list:
    def one():
        if nulls and pg_type in ("double precision", "boolean", "text") and rng.random() < 0.3:
            return None
        if pg_type == TIMESTAMPTZ:
            return rng.choice([0, 1, MIN_MS, MAX_MS, 1_723_161_240_123, rng.randint(MIN_MS, MAX_MS)])
        if pg_type == "bigint":
            return rng.choice([0, -1, 2**63 - 1, -(2**63), rng.randint(-(2**40), 2**40)])
        if pg_type == "double precision":
            return rng.choice([0.0, -0.0, 1e308, -5e-324, rng.uniform(-1e6, 1e6), rng.randint(-(2**62), 2**62), 3])
        if pg_type == "boolean":
            return rng.random() < 0.5
        return rng.choice(["", "binance", "BTCUSDT", "é€ 😀", "x" * rng.randint(0, 40)])

    return [one() for _ in range(n)]


@pytest.mark.parametrize("nulls", [False, True])
def test_payload_is_byte_identical_to_psycopg_row_formatting(nulls):
    rng = random.Random(3 + nulls)
    kinds = [TIMESTAMPTZ, "text", "bigint", "double precision", "boolean"]
    for _ in range(30):
        pg_types = [rng.choice(kinds) for _ in range(rng.randint(1, 12))]
        n = rng.randint(1, 60)
        columns = [_random_column(t, n, rng, nulls) for t in pg_types]
        assert binary_copy_payload(pg_types, columns) == _psycopg_payload(pg_types, columns)


def test_empty_batch_is_a_valid_empty_copy():
    assert binary_copy_payload(["bigint"], [[]]) == _binary_signature + _binary_trailer


@pytest.mark.parametrize(
    ("pg_type", "values"),
    [
        ("bigint", [1, 2**63]),  # beyond bigint: the row path rejects it through PostgreSQL
        ("bigint", [1, None]),
        ("bigint", [1, True]),
        ("double precision", [1.0, True]),
        ("double precision", [1.0, "1"]),
        ("boolean", [True, 1]),
        ("text", ["a", 1]),
        ("text", ["\ud800"]),  # not encodable as UTF-8
        (TIMESTAMPTZ, [MAX_MS + 1]),  # beyond year 9999: the row path rejects it with a reason
        (TIMESTAMPTZ, [MIN_MS - 1]),
        (TIMESTAMPTZ, [1.5]),
        ("integer", [1]),  # a type not built here
        ("double precision[]", [[1.0]]),
    ],
)
def test_values_the_row_path_treats_differently_are_refused(pg_type, values):
    with pytest.raises(UnsupportedColumns):
        binary_copy_payload([pg_type], [values])
