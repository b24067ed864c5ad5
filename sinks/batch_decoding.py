"""Decodes and validates a whole batch of one topic at once, as columns.

Per-record validation costs several microseconds of interpreted Python per record even with the
generated fast check (sinks.fast_validation), which alone kept the sinks far below their targets.
Records of one topic mostly come from one writer with one shape, so the batch is checked column by
column with loops that run in C: `set(map(type, column))` against the allowed types, `min(column)`
against a minimum, `set(column)` against an enum, a regex over the distinct values of a column.

Exactness: the column path accepts a batch only when every record is a dict whose keys are exactly
the schema's properties (so `required` and `additionalProperties: false` hold) and every column
satisfies its property's constraints, which means each record on its own satisfies the schema. A
keyword this module does not understand disables the column path for the topic. Whatever the
column path does not accept goes record by record through sinks.record_decoding (fast check, then
the full validator, which gives the DLQ reason), so a batch decodes to exactly the records the full
validator accepts, and the column path can only ever be faster.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from operator import itemgetter
from typing import Any

import orjson

from schemas.registry import load_schema
from schemas.topics import Topic
from sinks.batching import SinkRecord
from sinks.fast_validation import ecma_pattern
from sinks.record_decoding import RejectedRecord, decode_record

ColumnCheck = Callable[[Sequence[Any], frozenset[type]], bool]

_TYPES: dict[str, tuple[type, ...]] = {
    "number": (int, float),
    "integer": (int,),
    "null": (type(None),),
    "boolean": (bool,),
    "string": (str,),
    "array": (list,),
    "object": (dict,),
}
_NUMS = frozenset((int, float))
_IGNORED = {"description", "title", "examples", "$comment"}
_SCHEMA_KEYWORDS = {"$schema", "$id", "type", "required", "additionalProperties", "properties"}


class _Unsupported(Exception):
    pass


@dataclass
class DecodedColumns:
    """The valid records of a batch (in their order), their values as columns (one tuple per
    schema property, None for an absent optional field) and the rejected records with reasons."""

    records: list[SinkRecord] = field(default_factory=list)
    columns: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    rejects: list[tuple[SinkRecord, str]] = field(default_factory=list)
    types: dict[str, frozenset[type]] = field(default_factory=dict)  # the Python types in each column
    dicts: list[dict[str, Any]] = field(default_factory=list)
    column_path: bool = False  # True when the whole batch was accepted column-wise (bench, tests)


def _numbers(col: Sequence[Any], types: frozenset[type]) -> Sequence[Any]:
    return col if types <= _NUMS else [v for v in col if type(v) in _NUMS]


def _strings(col: Sequence[Any]) -> set[str]:
    """The distinct strings of a column (repeated values, e.g. symbols, are checked once)."""
    return {v for v in col if type(v) is str}


def _property_checks(spec: dict[str, Any]) -> tuple[frozenset[type], list[ColumnCheck]]:
    """(allowed Python types or None for any, extra column checks) for one property's schema.
    The extra checks run only after the column's types were found within the allowed ones."""
    unknown = (
        set(spec)
        - _IGNORED
        - {"type", "const", "enum", "minimum", "exclusiveMinimum", "minLength", "pattern"}
    )
    if unknown:
        raise _Unsupported(unknown)
    allowed: frozenset[type] | None = None
    checks: list[ColumnCheck] = []
    if "type" in spec:
        names = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
        allowed = frozenset(t for n in names for t in _TYPES[n])
    if "const" in spec:
        const = spec["const"]
        if type(const) is not int:
            raise _Unsupported("const")
        allowed = frozenset((int,)) if allowed is None else allowed & {int}
        checks.append(lambda col, types: set(col) <= {const})
    if "enum" in spec:
        members = frozenset(spec["enum"])
        if not all(type(m) is str for m in members):
            raise _Unsupported("enum")
        allowed = frozenset((str,)) if allowed is None else allowed & {str}
        checks.append(lambda col, types: set(col) <= members)
    if "minimum" in spec:
        low = spec["minimum"]
        checks.append(lambda col, types: min(_numbers(col, types), default=low) >= low)
    if "exclusiveMinimum" in spec:
        bound = spec["exclusiveMinimum"]
        checks.append(lambda col, types: all(v > bound for v in _numbers(col, types)))
    if "minLength" in spec:
        length = int(spec["minLength"])
        checks.append(lambda col, types: all(len(v) >= length for v in _strings(col)))
    if "pattern" in spec:
        rx = ecma_pattern(spec["pattern"])
        if rx is None:
            raise _Unsupported("pattern")
        checks.append(lambda col, types: all(rx.search(v) is not None for v in _strings(col)))
    if allowed is None:
        raise _Unsupported("a property without a type, const or enum")
    return allowed, checks


@dataclass(frozen=True)
class _ColumnSchema:
    properties: tuple[str, ...]
    getter: Callable[[dict[str, Any]], tuple[Any, ...]]
    checks: tuple[tuple[frozenset[type], tuple[ColumnCheck, ...]], ...] | None  # None: no column path

    def column_types(self, columns: list[tuple[Any, ...]]) -> list[frozenset[type]] | None:
        """The Python types found in each column when every column passes its checks, else None."""
        assert self.checks is not None
        found = []
        for col, (allowed, checks) in zip(columns, self.checks, strict=True):
            types = frozenset(map(type, col))
            if not types <= allowed:
                return None
            for check in checks:
                if not check(col, types):
                    return None
            found.append(types)
        return found


@cache
def _column_schema(topic: Topic) -> _ColumnSchema:
    schema = load_schema(topic)
    props = tuple(schema["properties"])
    checks: tuple[tuple[frozenset[type], tuple[ColumnCheck, ...]], ...] | None
    try:
        contract_rules = {k for k in schema if k.startswith("x-")}  # schemas/conformance.py checks them
        if set(schema) - _IGNORED - _SCHEMA_KEYWORDS - contract_rules or schema.get("type") != "object":
            raise _Unsupported("schema keywords")
        if schema.get("additionalProperties") is not False or not set(schema.get("required", ())) <= set(
            props
        ):
            raise _Unsupported("additionalProperties")
        built = []
        for name in props:
            allowed, extra = _property_checks(schema["properties"][name])
            built.append((allowed, tuple(extra)))
        checks = tuple(built)
    except (_Unsupported, KeyError):
        checks = None
    getter = itemgetter(*props) if len(props) > 1 else (lambda d: (d[props[0]],))
    return _ColumnSchema(props, getter, checks)


def has_column_path(topic: Topic) -> bool:
    """Whether the topic's schema is checked column-wise (else every record goes through
    sinks.record_decoding one by one)."""
    return _column_schema(topic).checks is not None


def _whole_batch(cs: _ColumnSchema, recs: list[SinkRecord]) -> DecodedColumns | None:
    """The batch decoded when every record passes the column checks, else None."""
    try:
        dicts = list(map(orjson.loads, [rec.value for rec in recs]))  # type: ignore[arg-type]
    except (orjson.JSONDecodeError, TypeError):
        return None
    if set(map(type, dicts)) != {dict} or set(map(len, dicts)) != {len(cs.properties)}:
        return None
    try:
        columns = list(zip(*map(cs.getter, dicts), strict=True))
    except KeyError:
        return None
    types = cs.column_types(columns)
    if types is None:
        return None
    return DecodedColumns(records=list(recs), columns=dict(zip(cs.properties, columns, strict=True)),
                          types=dict(zip(cs.properties, types, strict=True)), dicts=dicts, column_path=True)  # fmt: skip


def decode_columns(topic: Topic, recs: list[SinkRecord]) -> DecodedColumns:
    """Decodes and validates `recs` (all of `topic`); see the module docstring for the guarantee."""
    cs = _column_schema(topic)
    if cs.checks is not None and recs:
        whole = _whole_batch(cs, recs)
        if whole is not None:
            return whole
    out = DecodedColumns()
    for rec in recs:
        try:
            out.dicts.append(decode_record(rec))
            out.records.append(rec)
        except RejectedRecord as exc:
            out.rejects.append((rec, exc.reason))
    rows = [tuple(map(d.get, cs.properties)) for d in out.dicts]
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in cs.properties]
    out.columns = dict(zip(cs.properties, columns, strict=True))
    out.types = {p: frozenset(map(type, col)) for p, col in out.columns.items()}
    return out
