"""A fast "certainly valid" check generated from a topic's JSON Schema, in front of the full validator.

The full validator (schemas.validator_for, fastjsonschema) costs ~11 us for a 40-field
orderbook.processed record and ~35 us for a 20-level book, which alone would keep the sinks below
their throughput targets. This check is generated as one flat Python function per schema and accepts
a record only when every constraint of the schema is certainly met (exact Python types as orjson
produces them, plus the schema's bounds, patterns and enums). Anything else, including anything it
does not understand, goes to the full validator, which has the final word and gives the reason for
the DLQ. So the fast path can only be faster, never more permissive: a schema keyword this module
does not know disables the fast path for that topic.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from operator import itemgetter
from typing import Any

Check = Callable[[Any], bool]

_TYPES: dict[str, tuple[type, ...]] = {
    "number": (int, float),
    "integer": (int,),
    "null": (type(None),),
    "boolean": (bool,),
    "string": (str,),
    "array": (list,),
    "object": (dict,),
}
_IGNORED = {"description", "title", "examples", "$comment"}
_VALUE_KEYWORDS = {
    "type",
    "const",
    "enum",
    "minimum",
    "exclusiveMinimum",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "items",
}
_NUMS = frozenset((int, float))


class _Unsupported(Exception):
    pass


def ecma_pattern(pattern: str) -> re.Pattern[str] | None:
    """A Python regex that matches exactly what the JSON Schema (ECMA-262) `pattern` matches, for the
    simple patterns of the contract; None for anything it cannot translate with certainty."""
    # ECMA-262 "$" without the multiline flag means end of input, which is Python's \Z.
    if "$" in pattern[:-1] or "\\" in pattern:
        return None
    return re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern)


class _Generator:
    """Builds the source of one check function; constants go into its namespace by name."""

    def __init__(self) -> None:
        self.ns: dict[str, Any] = {"NUMS": _NUMS, "MISSING": object()}

    def const(self, value: Any) -> str:
        name = f"C{len(self.ns)}"
        self.ns[name] = value
        return name

    def pattern(self, pattern: str) -> str:
        rx = ecma_pattern(pattern)
        if rx is None:
            raise _Unsupported(pattern)
        return self.const(rx)

    def value_expr(self, v: str, spec: dict[str, Any]) -> str:
        """A boolean expression over the variable `v` that is True only if `spec` accepts it."""
        unknown = set(spec) - _IGNORED - _VALUE_KEYWORDS
        if unknown:
            raise _Unsupported(unknown)
        conds: list[str] = []
        if "type" in spec:
            names = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
            types = frozenset(t for n in names for t in _TYPES[n])
            conds.append(f"type({v}) in {self.const(types)}")
        if "const" in spec:
            if type(spec["const"]) is not int:
                raise _Unsupported("const")
            conds.append(f"(type({v}) is int and {v} == {spec['const']!r})")
        if "enum" in spec:
            if not all(type(o) is str for o in spec["enum"]):
                raise _Unsupported("enum")
            conds.append(f"(type({v}) is str and {v} in {self.const(frozenset(spec['enum']))})")
        if "minimum" in spec:
            conds.append(f"(type({v}) not in NUMS or {v} >= {self.const(spec['minimum'])})")
        if "exclusiveMinimum" in spec:
            conds.append(f"(type({v}) not in NUMS or {v} > {self.const(spec['exclusiveMinimum'])})")
        if "minLength" in spec:
            conds.append(f"(type({v}) is not str or len({v}) >= {int(spec['minLength'])})")
        if "pattern" in spec:
            conds.append(f"(type({v}) is not str or {self.pattern(spec['pattern'])}.search({v}) is not None)")
        if "maxItems" in spec:
            conds.append(f"(type({v}) is not list or len({v}) <= {int(spec['maxItems'])})")
        if "minItems" in spec:
            conds.append(f"(type({v}) is not list or len({v}) >= {int(spec['minItems'])})")
        if "items" in spec:
            conds.append(f"(type({v}) is not list or {self.items_expr(v, spec['items'])})")
        if not conds:
            raise _Unsupported("unconstrained value")
        return " and ".join(conds)

    def items_expr(self, v: str, item: dict[str, Any]) -> str:
        keys = set(item) - _IGNORED
        if item.get("type") in ("number", "integer") and keys <= {"type", "minimum", "exclusiveMinimum"}:
            # Whole-list checks in C: element types, then the smallest element against the bound.
            allowed = self.const(frozenset(_TYPES[item["type"]]))
            parts = [f"set(map(type, {v})) <= {allowed}"]
            if "minimum" in item:
                parts.append(f"(not {v} or min({v}) >= {self.const(item['minimum'])})")
            if "exclusiveMinimum" in item:
                parts.append(f"(not {v} or min({v}) > {self.const(item['exclusiveMinimum'])})")
            return "(" + " and ".join(parts) + ")"
        name = f"ITEM{len(self.ns)}"
        self.ns[name] = eval(f"lambda x: {self.value_expr('x', item)}", self.ns)  # noqa: S307 - generated here
        return f"all(map({name}, {v}))"


def compile_fast_check(schema: dict[str, Any]) -> Check | None:
    """A function returning True only for records the schema certainly accepts; None when the
    schema uses something this module does not judge (then always use the full validator)."""
    gen = _Generator()
    try:
        unknown = (
            set(schema)
            - _IGNORED
            - {"$schema", "$id", "type", "required", "additionalProperties", "properties"}
            # the contract's rules beyond JSON Schema (schemas/conformance.py) are checked there
            - {k for k in schema if k.startswith("x-")}
        )
        if unknown or schema.get("type") != "object" or schema.get("additionalProperties") is not False:
            raise _Unsupported(unknown)
        lines = [
            "def check(d):",
            "    if type(d) is not dict:",
            "        return False",
            "    keys = d.keys()",
            f"    if not ({gen.const(frozenset(schema.get('required', ())))} <= keys",
            f"            and keys <= {gen.const(frozenset(schema['properties']))}):",
            "        return False",
        ]
        # Properties constrained by their type alone are checked in groups, by C-level loops: the
        # types of their values must be within the allowed types. A missing key reads as None: fine
        # where null is allowed (required keys were checked above), else the full validator decides.
        by_types: dict[frozenset[type], list[str]] = {}
        rest: dict[str, dict[str, Any]] = {}
        for name, spec in schema["properties"].items():
            if set(spec) - _IGNORED == {"type"}:
                names = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
                by_types.setdefault(frozenset(t for n in names for t in _TYPES[n]), []).append(name)
            else:
                rest[name] = spec
        for types, names in by_types.items():
            if len(names) == 1:
                rest[names[0]] = schema["properties"][names[0]]
                continue
            allowed, keys = gen.const(types), gen.const(tuple(names))
            lines.append("    try:")
            lines.append(f"        values = {gen.const(itemgetter(*names))}(d)")
            lines.append("    except KeyError:")
            lines.append(f"        values = map(d.get, {keys})")
            lines.append(f"    if not {allowed}.issuperset(map(type, values)):")
            lines.append("        return False")
        for name, spec in rest.items():
            lines.append(f"    v = d.get({name!r}, MISSING)")
            lines.append(f"    if v is not MISSING and not ({gen.value_expr('v', spec)}):")
            lines.append("        return False")
        lines.append("    return True")
    except (_Unsupported, KeyError):
        return None
    exec("\n".join(lines), gen.ns)  # noqa: S102 - source generated above from the schema
    check: Check = gen.ns["check"]
    return check
