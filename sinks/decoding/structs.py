"""Decodes and judges a batch of one topic in C, with msgspec: straight into COPY rows for the
database sink's tables (`struct_rows`), or into Structs for the sinks that only need a few fields of
each record (`struct_decoder`: the Redis sink, the database sink's snapshots of orderbook.raw).

Why: even the column-wise path (columns.py) spends ~8 us of Python per orderbook.processed
record: `orjson.loads` builds a 42-key dict (~4.5 us), the column checks and the row assembly take
the rest. A msgspec Struct generated from the topic's JSON Schema parses the JSON and checks every
constraint in one C call (~4 us, no dict), and `msgspec.structs.astuple` turns it into a row.

Exactness: the generated Struct is at least as strict as the schema, never more permissive:
- only the keywords listed below are translated; any other keyword disables this path for the topic;
- `additionalProperties: false` -> forbid_unknown_fields; required properties have no default;
- "integer" -> int bounded to the signed 64-bit range (orjson, behind the full validator, turns
  larger literals into floats; msgspec would keep them exact: the bound makes both paths agree);
- "number" -> float: JSON integers become floats, which is what a double precision column stores
  (the row path hands psycopg the int and psycopg converts it the same way);
- arrays of numbers (a book side) -> lists of float with the item bound and the length bounds;
- patterns through vocabulary.ecma_pattern (ECMA `$` is the end of input, Python's `$`
  would also match before a final newline); strings, Literal enums, `const` integers;
- msgspec rejects what orjson rejects (malformed JSON, NaN, 1e400, lone surrogates, a BOM) and, like
  orjson, keeps the last of duplicate keys.
A batch is taken by this path only when every record decodes and the contract's rules beyond JSON
Schema hold over the decoded batch (TopicContract.columns_conform: event-time bounds, equal
lengths); otherwise the caller falls back to the column or record path, which gives each reject
`nonconformity`'s reason. So the set of stored records is exactly the one the contract accepts
(tests/sinks compare the paths with `nonconformity`).

Rows: the Struct's fields are ordered like the table's columns, and its `schema_version` slot (a
validated constant that is not stored) comes first, where the `ts` column is: after validation it
is overwritten with `ts`'s binary value, so `astuple` yields the COPY row with no per-record Python
tuple building. Time columns hold their binary timestamptz value (microseconds since 2000-01-01 as
a bigint), as in sinks.postgres_rows.rows_from_columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from operator import attrgetter, itemgetter
from typing import Annotated, Any, Literal, Optional

import msgspec

from schemas.registry import load_schema
from schemas.topics import Topic
from sinks.decoding.contract import TopicContract
from sinks.decoding.vocabulary import (
    ANNOTATIONS,
    Unsupported,
    check_object_schema,
    ecma_pattern,
    nested_object,
    type_names,
)
from sinks.postgres_rows import _PG_EPOCH_MS, MAX_MS, MIN_MS, TIMESTAMPTZ, TableSpec

# The property keywords the Structs translate (on top of the annotations).
_VALUE_KEYWORDS = {"type", "const", "enum", "minimum", "exclusiveMinimum", "minLength", "pattern", "items",
                   "minItems", "maxItems"}  # fmt: skip
_INT64 = (-(2**63), 2**63 - 1)
_BASE_TYPES: dict[str, Any] = {"number": float, "integer": int, "boolean": bool, "string": str}
_DECODE_ERRORS = (msgspec.ValidationError, msgspec.DecodeError, TypeError)
VERSION_FIELD = "schema_version"


def _int_bound(bound: Any) -> int:
    if type(bound) is not int:
        raise Unsupported("a non-integer bound on an integer")
    return bound


def _number_meta(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """msgspec.Meta options for the bounds of a number or integer."""
    if kind == "integer":
        # Integer bounds as one inclusive lower bound, within the signed 64-bit range.
        low = _INT64[0]
        if "minimum" in spec:
            low = max(low, _int_bound(spec["minimum"]))
        if "exclusiveMinimum" in spec:
            low = max(low, _int_bound(spec["exclusiveMinimum"]) + 1)
        return {"ge": low, "le": _INT64[1]}
    meta: dict[str, Any] = {}
    for keyword, option in (("minimum", "ge"), ("exclusiveMinimum", "gt")):
        if keyword in spec:
            if type(spec[keyword]) not in (int, float):
                raise Unsupported(keyword)
            meta[option] = spec[keyword]
    return meta


def _array(spec: dict[str, Any]) -> Any:
    """A non-null array of numbers, with its item bounds and length bounds."""
    item = spec.get("items")
    if (not isinstance(item, dict) or item.get("type") not in ("number", "integer")
            or set(item) - ANNOTATIONS - {"type", "minimum", "exclusiveMinimum"}
            or set(spec) - ANNOTATIONS - {"type", "items", "minItems", "maxItems"}):  # fmt: skip
        raise Unsupported("an array other than of bounded numbers")
    element: Any = _BASE_TYPES[item["type"]]
    element_meta = _number_meta(item["type"], item)
    if element_meta:
        element = Annotated[element, msgspec.Meta(**element_meta)]
    meta: dict[str, Any] = {}
    if "minItems" in spec:
        meta["min_length"] = int(spec["minItems"])
    if "maxItems" in spec:
        meta["max_length"] = int(spec["maxItems"])
    return Annotated[list[element], msgspec.Meta(**meta)] if meta else list[element]  # type: ignore[valid-type]


def _object(spec: dict[str, Any]) -> Any:
    """A closed nested object (an alert's context) as a nested Struct: unknown fields forbidden,
    required ones without a default, each field's type from its own schema."""
    nested = nested_object(spec)
    assert nested is not None
    props, required = nested
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for name, sub in props.items():
        tp = _annotation(sub, nested=True)
        fields.append((name, tp) if name in required else (name, tp, None))
    struct = msgspec.defstruct("NestedObject", fields, kw_only=True, forbid_unknown_fields=True, gc=False)
    return Optional[struct] if "null" in type_names(spec) else struct  # noqa: UP045 - built at run time


def _annotation(spec: dict[str, Any], nested: bool) -> Any:
    """The msgspec type of one property: accepts a subset of what `spec` accepts. Closed nested
    objects only where `nested` (Structs read by attribute; a COPY row cannot hold a Struct)."""
    if nested_object(spec) is not None:
        if not nested:
            raise Unsupported("a nested object in a COPY row")
        return _object(spec)
    unknown = set(spec) - ANNOTATIONS - _VALUE_KEYWORDS
    if unknown:
        raise Unsupported(unknown)
    if "const" in spec:
        if type(spec["const"]) is not int or set(spec) - ANNOTATIONS != {"const"}:
            raise Unsupported("const")
        return Literal[spec["const"]]
    if "enum" in spec:
        members = spec["enum"]
        if not members or not all(type(m) is str for m in members) or set(spec) - ANNOTATIONS != {"enum"}:
            raise Unsupported("enum")
        return Literal[tuple(members)]
    if "type" not in spec:
        raise Unsupported("a property without a type, const or enum")
    names = type_names(spec)
    if names == ["array"]:
        return _array(spec)
    if {"items", "minItems", "maxItems"} & set(spec):
        raise Unsupported("array keywords on a non-array")
    bases = [n for n in names if n != "null"]
    if len(bases) != 1 or bases[0] not in _BASE_TYPES or not set(names) <= {bases[0], "null"}:
        raise Unsupported(names)
    kind = bases[0]
    if ("minimum" in spec or "exclusiveMinimum" in spec) and kind not in ("integer", "number"):
        raise Unsupported("a bound on a non-number")
    meta = _number_meta(kind, spec) if kind in ("integer", "number") else {}
    if "minLength" in spec or "pattern" in spec:
        if kind != "string":
            raise Unsupported("string keyword on a non-string")
        if "minLength" in spec:
            meta["min_length"] = int(spec["minLength"])
        if "pattern" in spec:
            rx = ecma_pattern(spec["pattern"])
            if rx is None:
                raise Unsupported("pattern")
            meta["pattern"] = rx.pattern
    base: Any = _BASE_TYPES[kind]
    if meta:
        base = Annotated[base, msgspec.Meta(**meta)]
    return Optional[base] if "null" in names else base  # noqa: UP045 - built at run time


def _struct(topic: Topic, order: Sequence[str], nested: bool) -> type[msgspec.Struct]:
    """A Struct of the topic's properties in `order` (required ones without a default); raises
    Unsupported when the schema has something this module does not translate with certainty (or a
    nested object, unless `nested`)."""
    schema = load_schema(topic)
    check_object_schema(schema)
    props: dict[str, Any] = schema["properties"]
    required = set(schema.get("required", ()))
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for name in order:
        tp = _annotation(props[name], nested)
        fields.append((name, tp) if name in required else (name, tp, None))
    return msgspec.defstruct(f"{topic.name.title()}Record", fields, kw_only=True, forbid_unknown_fields=True,
                             gc=False)  # fmt: skip


def _decode_all(decoder: msgspec.json.Decoder[Any], values: Sequence[bytes | None],
                contract: TopicContract) -> list[Any] | None:  # fmt: skip
    """Every value decoded, when all decode and the contract's rules hold over the batch; else None."""
    try:
        structs = list(map(decoder.decode, values))  # type: ignore[arg-type]
    except _DECODE_ERRORS:
        return None
    if not contract.columns_conform(lambda name: list(map(attrgetter(name), structs))):
        return None
    return structs


@cache
def struct_decoder(topic: Topic) -> msgspec.json.Decoder[Any] | None:
    """A decoder of the topic's records into Structs with the schema's fields, or None when the
    schema has something this module does not translate with certainty."""
    try:
        struct = _struct(topic, tuple(load_schema(topic)["properties"]), nested=True)
    except (Unsupported, KeyError):
        return None
    return msgspec.json.Decoder(struct)


def decode_structs(contract: TopicContract, values: Sequence[bytes | None]) -> list[Any] | None:
    """The batch as Structs (fields read with attribute access), or None when the topic has no
    struct path or any record does not conform (the caller then takes the exact paths)."""
    decoder = struct_decoder(contract.topic)
    return None if decoder is None else _decode_all(decoder, values, contract)


@dataclass(frozen=True)
class StructRows:
    """A topic's generated Struct decoder for one table, and how its structs become COPY rows."""

    decoder: msgspec.json.Decoder[Any]
    fields: tuple[str, ...]  # Struct fields in order: VERSION_FIELD, then the table's non-ts columns
    has_ts: bool  # the table's first column is `ts` (= event_time); else the version slot is dropped
    time_fields: tuple[str, ...]  # non-ts timestamptz columns (their slots get the binary value)

    def rows(self, values: Sequence[bytes | None], contract: TopicContract) -> list[tuple[Any, ...]] | None:
        """The COPY rows of the values, or None when any value does not decode under the Struct,
        breaks the contract's rules beyond the schema, or has a time outside years 1..9999 (the
        caller then takes the exact paths)."""
        structs = _decode_all(self.decoder, values, contract)
        if structs is None:
            return None
        if not structs:
            return []
        for name in (*self.time_fields, *(("event_time",) if self.has_ts else ())):
            times = list(map(attrgetter(name), structs))
            if min(times) < MIN_MS or max(times) > MAX_MS:
                return None
        if self.has_ts:
            for s, ms in zip(structs, map(attrgetter("event_time"), structs), strict=True):
                s.schema_version = (ms - _PG_EPOCH_MS) * 1000
        for name in self.time_fields:
            for s, ms in zip(structs, map(attrgetter(name), structs), strict=True):
                setattr(s, name, (ms - _PG_EPOCH_MS) * 1000)
        rows = list(map(msgspec.structs.astuple, structs))
        return rows if self.has_ts else list(map(itemgetter(slice(1, None)), rows))


@cache
def struct_rows(topic: Topic, spec: TableSpec, pg_types: tuple[str, ...]) -> StructRows | None:
    """The struct path of `topic` into the table `spec` (whose column types are `pg_types`), or None
    when the schema or the table has something this module does not translate with certainty."""
    schema = load_schema(topic)
    props: dict[str, Any] = schema.get("properties", {})
    try:
        if props.get(VERSION_FIELD, {}).get("const") is None:
            raise Unsupported("no constant schema_version")
        has_ts = spec.columns[0] == "ts"
        stored = spec.sources[1:] if has_ts else spec.sources
        if sorted(stored) != sorted(p for p in props if p != VERSION_FIELD) or (
            has_ts and "event_time" not in props
        ):
            raise Unsupported("the table's columns are not the schema's properties")
        types = dict(zip(spec.columns, pg_types, strict=True))
        time_fields = tuple(c for c in spec.columns if types[c] == TIMESTAMPTZ and c != "ts")
        if has_ts and types["ts"] != TIMESTAMPTZ:
            raise Unsupported("ts")
        required = set(schema.get("required", ()))
        for name in (*time_fields, *(("event_time",) if has_ts else ())):
            if props[name].get("type") != "integer" or name not in required:
                raise Unsupported("a time that is not a required integer")
        order = (VERSION_FIELD, *stored)
        struct = _struct(topic, order, nested=False)
    except (Unsupported, KeyError):
        return None
    return StructRows(msgspec.json.Decoder(struct), order, has_ts, time_fields)


def copy_types(pg_types: Sequence[str]) -> list[str]:
    """The types psycopg formats a struct row's values as: time columns as their bigint binary form."""
    return ["bigint" if t == TIMESTAMPTZ else t for t in pg_types]
