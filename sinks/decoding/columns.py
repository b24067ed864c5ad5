"""Decodes and judges a whole batch of one topic at once, as columns.

Per-record validation costs several microseconds of interpreted Python per record even with the
generated fast check (fast_check.py), which alone kept the sinks far below their targets.
Records of one topic mostly come from one writer with one shape, so the batch is checked column by
column with loops that run in C: `set(map(type, column))` against the allowed types, `min(column)`
against a minimum, `set(column)` against an enum, a regex over the distinct values of a column;
then the contract's rules beyond JSON Schema over the columns (TopicContract.columns_conform: the
event time column's `min` and `max` against the bounds, the lengths of equal-length arrays).

Exactness: the column path accepts a batch only when every record is a dict whose keys are exactly
the schema's properties (so `required` and `additionalProperties: false` hold) and every column
satisfies its property's constraints, which means each record on its own satisfies the schema, and
the rules beyond it hold for every record. A keyword this module does not understand disables the
column path for the topic. Whatever the column path does not accept goes record by record through
sinks.decoding.records (fast check, then `nonconformity`, which gives the DLQ reason), so a batch
decodes to exactly the records the contract accepts, and the column path can only ever be faster.
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
from sinks.decoding.contract import RejectedRecord, TopicContract
from sinks.decoding.fast_check import compile_value_check
from sinks.decoding.records import decode_record
from sinks.decoding.vocabulary import (
    ANNOTATIONS,
    NUMBERS,
    Unsupported,
    check_object_schema,
    ecma_pattern,
    nested_object,
    python_types,
)

ColumnCheck = Callable[[Sequence[Any], frozenset[type]], bool]

# The property keywords the column checks translate (on top of the annotations).
_VALUE_KEYWORDS = {"type", "const", "enum", "minimum", "exclusiveMinimum", "minLength", "pattern"}


@dataclass
class DecodedColumns:
    """The valid records of a batch (in their order), their values as columns (one tuple per
    schema property, None for an absent optional field) and the rejected records with reasons."""

    records: list[SinkRecord] = field(default_factory=list)
    columns: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    rejects: list[tuple[SinkRecord, RejectedRecord]] = field(default_factory=list)
    types: dict[str, frozenset[type]] = field(default_factory=dict)  # the Python types in each column
    dicts: list[dict[str, Any]] = field(default_factory=list)
    column_path: bool = False  # True when the whole batch was accepted column-wise (bench, tests)


def _numbers(col: Sequence[Any], types: frozenset[type]) -> Sequence[Any]:
    return col if types <= NUMBERS else [v for v in col if type(v) in NUMBERS]


def _strings(col: Sequence[Any]) -> set[str]:
    """The distinct strings of a column (repeated values, e.g. symbols, are checked once)."""
    return {v for v in col if type(v) is str}


def _property_checks(spec: dict[str, Any]) -> tuple[frozenset[type], list[ColumnCheck]]:
    """(allowed Python types or None for any, extra column checks) for one property's schema.
    The extra checks run only after the column's types were found within the allowed ones."""
    if nested_object(spec) is not None:  # a closed nested object (an alert's context): value by value
        ok = compile_value_check(spec)
        return python_types(spec), [lambda col, types: all(map(ok, col))]
    unknown = set(spec) - ANNOTATIONS - _VALUE_KEYWORDS
    if unknown:
        raise Unsupported(unknown)
    allowed: frozenset[type] | None = None
    checks: list[ColumnCheck] = []
    if "type" in spec:
        allowed = python_types(spec)
    if "const" in spec:
        const = spec["const"]
        if type(const) is not int:
            raise Unsupported("const")
        allowed = frozenset((int,)) if allowed is None else allowed & {int}
        checks.append(lambda col, types: set(col) <= {const})
    if "enum" in spec:
        members = frozenset(spec["enum"])
        if not all(type(m) is str for m in members):
            raise Unsupported("enum")
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
            raise Unsupported("pattern")
        checks.append(lambda col, types: all(rx.search(v) is not None for v in _strings(col)))
    if allowed is None:
        raise Unsupported("a property without a type, const or enum")
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
        check_object_schema(schema)
        built = []
        for name in props:
            allowed, extra = _property_checks(schema["properties"][name])
            built.append((allowed, tuple(extra)))
        checks = tuple(built)
    except (Unsupported, KeyError):
        checks = None
    getter = itemgetter(*props) if len(props) > 1 else (lambda d: (d[props[0]],))
    return _ColumnSchema(props, getter, checks)


def _whole_batch(cs: _ColumnSchema, recs: list[SinkRecord], contract: TopicContract) -> DecodedColumns | None:
    """The batch decoded when every record passes the column checks and the rules beyond the
    schema hold over the columns, else None."""
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
    by_name = dict(zip(cs.properties, columns, strict=True))
    if not contract.columns_conform(by_name.__getitem__):
        return None
    return DecodedColumns(records=list(recs), columns=by_name, types=dict(zip(cs.properties, types, strict=True)),
                          dicts=dicts, column_path=True)  # fmt: skip


def decode_columns(contract: TopicContract, recs: list[SinkRecord]) -> DecodedColumns:
    """Decodes and judges `recs` (all of `contract.topic`); see the module docstring for the guarantee."""
    cs = _column_schema(contract.topic)
    if cs.checks is not None and recs:
        whole = _whole_batch(cs, recs, contract)
        if whole is not None:
            return whole
    out = DecodedColumns()
    for rec in recs:
        try:
            out.dicts.append(decode_record(rec, contract))
            out.records.append(rec)
        except RejectedRecord as exc:
            out.rejects.append((rec, exc))
    rows = [tuple(map(d.get, cs.properties)) for d in out.dicts]
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in cs.properties]
    out.columns = dict(zip(cs.properties, columns, strict=True))
    out.types = {p: frozenset(map(type, col)) for p, col in out.columns.items()}
    return out
