"""Decodes and validates a batch of one topic straight into COPY rows, in C, with msgspec.

Why: even the column-wise path (sinks.batch_decoding) spends ~8 us of Python per orderbook.processed
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
- patterns through sinks.fast_validation.ecma_pattern (ECMA `$` is the end of input, Python's `$`
  would also match before a final newline); strings, Literal enums, `const` integers;
- msgspec rejects what orjson rejects (malformed JSON, NaN, 1e400, lone surrogates, a BOM) and, like
  orjson, keeps the last of duplicate keys.
A batch is taken by this path only when every record decodes; otherwise the caller falls back to
the column path, whose record-by-record tail gives each reject its full-validator reason. So the
set of stored records is exactly the one the full validator accepts (tests/sinks compare the paths).

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
from sinks.fast_validation import ecma_pattern
from sinks.postgres_rows import _PG_EPOCH_MS, MAX_MS, MIN_MS, TIMESTAMPTZ, TableSpec

_IGNORED = {"description", "title", "examples", "$comment"}
_SCHEMA_KEYWORDS = {"$schema", "$id", "type", "required", "additionalProperties", "properties"}
_VALUE_KEYWORDS = {"type", "const", "enum", "minimum", "exclusiveMinimum", "minLength", "pattern"}
_INT64 = (-(2**63), 2**63 - 1)
_BASE_TYPES: dict[str, Any] = {"number": float, "integer": int, "boolean": bool, "string": str}
VERSION_FIELD = "schema_version"


class _Unsupported(Exception):
    pass


def _int_bound(bound: Any) -> int:
    if type(bound) is not int:
        raise _Unsupported("a non-integer bound on an integer")
    return bound


def _annotation(spec: dict[str, Any]) -> Any:
    """The msgspec type of one property: accepts a subset of what `spec` accepts."""
    unknown = set(spec) - _IGNORED - _VALUE_KEYWORDS
    if unknown:
        raise _Unsupported(unknown)
    if "const" in spec:
        if type(spec["const"]) is not int or set(spec) - _IGNORED != {"const"}:
            raise _Unsupported("const")
        return Literal[spec["const"]]
    if "enum" in spec:
        members = spec["enum"]
        if not members or not all(type(m) is str for m in members) or set(spec) - _IGNORED != {"enum"}:
            raise _Unsupported("enum")
        return Literal[tuple(members)]
    if "type" not in spec:
        raise _Unsupported("a property without a type, const or enum")
    names = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    bases = [n for n in names if n != "null"]
    if len(bases) != 1 or bases[0] not in _BASE_TYPES or not set(names) <= {bases[0], "null"}:
        raise _Unsupported(names)
    kind = bases[0]
    meta: dict[str, Any] = {}
    if ("minimum" in spec or "exclusiveMinimum" in spec) and kind not in ("integer", "number"):
        raise _Unsupported("a bound on a non-number")
    if kind == "integer":
        # Integer bounds as one inclusive lower bound, within the signed 64-bit range.
        low = _INT64[0]
        if "minimum" in spec:
            low = max(low, _int_bound(spec["minimum"]))
        if "exclusiveMinimum" in spec:
            low = max(low, _int_bound(spec["exclusiveMinimum"]) + 1)
        meta.update(ge=low, le=_INT64[1])
    else:
        for keyword, option in (("minimum", "ge"), ("exclusiveMinimum", "gt")):
            if keyword in spec:
                if type(spec[keyword]) not in (int, float):
                    raise _Unsupported(keyword)
                meta[option] = spec[keyword]
    if "minLength" in spec or "pattern" in spec:
        if kind != "string":
            raise _Unsupported("string keyword on a non-string")
        if "minLength" in spec:
            meta["min_length"] = int(spec["minLength"])
        if "pattern" in spec:
            rx = ecma_pattern(spec["pattern"])
            if rx is None:
                raise _Unsupported("pattern")
            meta["pattern"] = rx.pattern
    base: Any = _BASE_TYPES[kind]
    if meta:
        base = Annotated[base, msgspec.Meta(**meta)]
    return Optional[base] if "null" in names else base  # noqa: UP045 - built at run time


@dataclass(frozen=True)
class StructRows:
    """A topic's generated Struct decoder for one table, and how its structs become COPY rows."""

    decoder: msgspec.json.Decoder[Any]
    fields: tuple[str, ...]  # Struct fields in order: VERSION_FIELD, then the table's non-ts columns
    has_ts: bool  # the table's first column is `ts` (= event_time); else the version slot is dropped
    time_fields: tuple[str, ...]  # non-ts timestamptz columns (their slots get the binary value)

    def rows(self, values: Sequence[bytes | None]) -> list[tuple[Any, ...]] | None:
        """The COPY rows of the values, or None when any value does not decode under the Struct or a
        time lies outside years 1..9999 (the caller then takes the exact record-by-record path)."""
        try:
            structs = list(map(self.decoder.decode, values))  # type: ignore[arg-type]
        except (msgspec.ValidationError, msgspec.DecodeError, TypeError):
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
        contract_rules = {k for k in schema if k.startswith("x-")}  # schemas/conformance.py checks them
        if set(schema) - _IGNORED - _SCHEMA_KEYWORDS - contract_rules or schema.get("type") != "object":
            raise _Unsupported("schema keywords")
        if schema.get("additionalProperties") is not False or not set(schema.get("required", ())) <= set(
            props
        ):
            raise _Unsupported("additionalProperties or required")
        if props.get(VERSION_FIELD, {}).get("const") is None:
            raise _Unsupported("no constant schema_version")
        has_ts = spec.columns[0] == "ts"
        stored = spec.sources[1:] if has_ts else spec.sources
        if sorted(stored) != sorted(p for p in props if p != VERSION_FIELD) or (
            has_ts and "event_time" not in props
        ):
            raise _Unsupported("the table's columns are not the schema's properties")
        types = dict(zip(spec.columns, pg_types, strict=True))
        time_fields = tuple(c for c in spec.columns if types[c] == TIMESTAMPTZ and c != "ts")
        if has_ts and types["ts"] != TIMESTAMPTZ:
            raise _Unsupported("ts")
        required = set(schema.get("required", ()))
        for name in (*time_fields, *(("event_time",) if has_ts else ())):
            if props[name].get("type") != "integer" or name not in required:
                raise _Unsupported("a time that is not a required integer")
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        for name in (VERSION_FIELD, *stored):
            tp = _annotation(props[name])
            fields.append((name, tp) if name in required else (name, tp, None))
    except (_Unsupported, KeyError):
        return None
    struct = msgspec.defstruct(
        f"{topic.name.title()}Record", fields, kw_only=True, forbid_unknown_fields=True, gc=False
    )
    return StructRows(msgspec.json.Decoder(struct), tuple(f[0] for f in fields), has_ts, time_fields)


def copy_types(pg_types: Sequence[str]) -> list[str]:
    """The types psycopg formats a struct row's values as: time columns as their bigint binary form."""
    return ["bigint" if t == TIMESTAMPTZ else t for t in pg_types]
