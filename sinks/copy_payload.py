"""Builds a PostgreSQL binary COPY payload for a whole batch from columns, with numpy.

psycopg's `Copy.write_row` formats one row per call (a few microseconds each) after the sink has
built a tuple and datetime objects per row (a few more). Here each column is converted once for the
whole batch (floats, bigints, booleans, texts, millisecond times to timestamptz), laid out as a
fixed-width table of bytes (row header, then per column a 4-byte length and the value) and the
unused bytes of NULL cells and shorter texts are dropped with one boolean mask. The result is the
exact binary COPY format (signature, rows, trailer), written with one `Copy.write`.

Only the column types of the hot tables are supported; `UnsupportedColumns` tells the caller to
use the row-by-row path (which also handles every value a column cannot take). The checks here are
exact: a value of an unexpected Python type, an integer beyond bigint or a time beyond what the row
path accepts (year 9999) makes the whole payload unsupported rather than being converted some
other way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"
TIMESTAMPTZ = "timestamp with time zone"
# The Unix time of PostgreSQL's epoch (2000-01-01 UTC), in milliseconds; timestamptz is microseconds since it.
_PG_EPOCH_MS = 946_684_800_000
# The row path converts through Python datetimes: years 1..9999. Same range here, so the same
# records are accepted and the others take the row path, which rejects them with a reason.
MIN_MS = -62_135_596_800_000
MAX_MS = 253_402_300_799_999
_NONE = type(None)



class UnsupportedColumns(ValueError):
    """A column's type or values are not handled here: use the row-by-row path."""


@dataclass
class Column:
    """One converted column: values of numpy dtype `dtype` (big-endian, as COPY wants them), and
    either NULL flags (fixed-width types) or per-value byte lengths (texts, -1 for NULL)."""

    dtype: str
    values: npt.NDArray[Any]
    nulls: npt.NDArray[np.bool_] | None = None
    lengths: npt.NDArray[np.int32] | None = None

    @property
    def width(self) -> int:
        return int(np.dtype(self.dtype).itemsize)

    def cell_lengths(self) -> npt.NDArray[np.int32] | int:
        if self.lengths is not None:
            return self.lengths
        if self.nulls is not None:
            return np.where(self.nulls, np.int32(-1), np.int32(self.width))
        return self.width


def _float8(values: Sequence[Any], types: frozenset[type]) -> Column:
    if not types <= {float, int, _NONE}:
        raise UnsupportedColumns("double precision column with non-numbers")
    # orjson never produces NaN or infinities, so NaN here is exactly the JSON nulls.
    arr = np.array(values, dtype=np.float64)
    nulls = np.isnan(arr)
    return Column(">f8", arr, nulls if nulls.any() else None)


def _int8(values: Sequence[Any], types: frozenset[type]) -> Column:
    if not types <= {int}:
        raise UnsupportedColumns("bigint column with NULLs or non-integers")
    try:
        arr = np.array(values, dtype=np.int64)
    except OverflowError:
        raise UnsupportedColumns("integer beyond bigint") from None
    return Column(">i8", arr)


def _bool(values: Sequence[Any], types: frozenset[type]) -> Column:
    if not types <= {bool, _NONE}:
        raise UnsupportedColumns("boolean column with non-booleans")
    arr = np.array(values, dtype=np.float64)  # True 1.0, False 0.0, None NaN
    nulls = np.isnan(arr)
    return Column("u1", arr == 1.0, nulls if nulls.any() else None)


def _timestamptz_from_ms(values: Sequence[Any], types: frozenset[type]) -> Column:
    if not types <= {int}:
        raise UnsupportedColumns("time column with NULLs or non-integers")
    if values and (min(values) < MIN_MS or max(values) > MAX_MS):
        raise UnsupportedColumns("time outside years 1..9999")
    return Column(">i8", (np.array(values, dtype=np.int64) - _PG_EPOCH_MS) * 1000)


def _text(values: Sequence[Any], types: frozenset[type]) -> Column:
    """Each distinct string is encoded once (exchange, market and symbol repeat all the time)."""
    if not types <= {str, _NONE}:
        raise UnsupportedColumns("text column with non-strings")
    distinct = list(set(values))
    try:
        encoded = [b"" if v is None else v.encode() for v in distinct]
    except UnicodeEncodeError:
        raise UnsupportedColumns("text that is not valid UTF-8") from None
    index = {v: i for i, v in enumerate(distinct)}
    codes = np.fromiter(map(index.__getitem__, values), dtype=np.intp, count=len(values))
    width = max(map(len, encoded), default=0)
    table = np.array(encoded, dtype=f"S{max(width, 1)}")
    lengths = np.array([-1 if v is None else len(e) for v, e in zip(distinct, encoded, strict=True)], np.int32)
    return Column(f"S{max(width, 1)}", table[codes], lengths=lengths[codes])


_CONVERTERS = {
    "double precision": _float8,
    "bigint": _int8,
    "boolean": _bool,
    "text": _text,
    TIMESTAMPTZ: _timestamptz_from_ms,
}


def supports(pg_types: Sequence[str]) -> bool:
    """Whether a table with these column types (format_type names) can be built here."""
    return all(t in _CONVERTERS for t in pg_types)


def binary_copy_payload(pg_types: Sequence[str], columns: Sequence[Sequence[Any]],
                        column_types: Sequence[frozenset[type]] | None = None) -> bytes:  # fmt: skip
    """The complete binary COPY data (signature, rows, trailer) of len(columns[0]) rows.

    `pg_types[i]` is the type of the i-th column (format_type names); timestamptz columns take
    integer milliseconds since the Unix epoch. `column_types`, when the caller already has them, are
    the sets of Python types found in each column (saves a pass over every value). Raises
    UnsupportedColumns (see the module docstring).
    """
    if len(pg_types) != len(columns):
        raise ValueError("one type per column")
    if not supports(pg_types):
        raise UnsupportedColumns(f"column types {sorted(set(pg_types) - set(_CONVERTERS))}")
    n = len(columns[0]) if columns else 0
    if n == 0:
        return SIGNATURE + TRAILER
    found = column_types if column_types is not None else [frozenset(map(type, col)) for col in columns]
    converted = [_CONVERTERS[t](col, ts) for t, col, ts in zip(pg_types, columns, found, strict=True)]
    # One packed record per row: the field count, then per column its length and its value.
    fields: list[tuple[str, str]] = [("n", ">i2")]
    for i, col in enumerate(converted):
        fields += [(f"l{i}", ">i4"), (f"v{i}", col.dtype)]
    rows = np.empty(n, dtype=np.dtype(fields))
    rows["n"] = len(converted)
    keep: npt.NDArray[np.bool_] | None = None
    pos = 2
    for i, col in enumerate(converted):
        rows[f"l{i}"] = col.cell_lengths()
        rows[f"v{i}"] = col.values
        width = col.width
        used = col.lengths if col.lengths is not None else (None if col.nulls is None else ~col.nulls * width)
        if used is not None and bool((used < width).any()):
            # NULLs and shorter texts: their unused value bytes are dropped below.
            if keep is None:
                keep = np.ones((n, rows.dtype.itemsize), dtype=bool)
            keep[:, pos + 4 : pos + 4 + width] = np.arange(width) < np.maximum(used, 0)[:, None]
        pos += 4 + width
    raw = rows.view(np.uint8).reshape(n, -1)
    return SIGNATURE + (raw[keep] if keep is not None else raw).tobytes() + TRAILER
