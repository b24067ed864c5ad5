"""A fast "certainly valid" check generated from a topic's JSON Schema, in front of `nonconformity`.

The full validator (schemas.validator_for, fastjsonschema) costs ~11 us for a 40-field
orderbook.processed record and ~35 us for a 20-level book, which alone would keep the sinks below
their throughput targets. This check is generated as one flat Python function per schema and accepts
a record only when every constraint of the schema is certainly met (exact Python types as orjson
produces them, plus the schema's bounds, patterns and enums). It judges the JSON Schema part of
the contract only: sinks.decoding.records applies the rules beyond it (TopicContract) to what it
accepts. Anything it does not accept, including anything it does not understand, goes to
`nonconformity`, which has the final word and gives the reason for the DLQ. So the fast path can
only be faster, never more permissive: a schema keyword this module does not know disables the
fast path for that topic.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

from sinks.decoding.vocabulary import (
    ANNOTATIONS,
    JSON_TYPES,
    NUMBERS,
    Unsupported,
    check_object_schema,
    ecma_pattern,
    nested_object,
    python_types,
)

Check = Callable[[Any], bool]

# The property keywords this check translates (on top of the annotations).
_VALUE_KEYWORDS = {"type", "const", "enum", "minimum", "exclusiveMinimum", "minLength", "pattern", "maxItems",
                   "minItems", "items"}  # fmt: skip


class _Generator:
    """Builds the source of one check function; constants go into its namespace by name."""

    def __init__(self) -> None:
        self.ns: dict[str, Any] = {"NUMS": NUMBERS, "MISSING": object()}

    def const(self, value: Any) -> str:
        name = f"C{len(self.ns)}"
        self.ns[name] = value
        return name

    def pattern(self, pattern: str) -> str:
        rx = ecma_pattern(pattern)
        if rx is None:
            raise Unsupported(pattern)
        return self.const(rx)

    def value_expr(self, v: str, spec: dict[str, Any]) -> str:
        """A boolean expression over the variable `v` that is True only if `spec` accepts it."""
        nested = nested_object(spec)
        if nested is not None:
            return f"type({v}) in {self.const(python_types(spec))} and (type({v}) is not dict or {self.object_check(*nested)}({v}))"
        unknown = set(spec) - ANNOTATIONS - _VALUE_KEYWORDS
        if unknown:
            raise Unsupported(unknown)
        conds: list[str] = []
        if "type" in spec:
            conds.append(f"type({v}) in {self.const(python_types(spec))}")
        if "const" in spec:
            if type(spec["const"]) is not int:
                raise Unsupported("const")
            conds.append(f"(type({v}) is int and {v} == {spec['const']!r})")
        if "enum" in spec:
            if not all(type(o) is str for o in spec["enum"]):
                raise Unsupported("enum")
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
            raise Unsupported("unconstrained value")
        return " and ".join(conds)

    def object_check(self, props: dict[str, dict[str, Any]], required: frozenset[str]) -> str:
        """The name of a function that is True only for a dict with the required keys, no other
        keys than `props`, and every value accepted by its property (a closed nested object)."""
        names = frozenset(props)
        checks = {
            name: eval(f"lambda x: {self.value_expr('x', spec)}", self.ns) for name, spec in props.items()
        }  # noqa: S307

        def check(d: dict[str, Any]) -> bool:
            keys = d.keys()
            return required <= keys and keys <= names and all(checks[k](d[k]) for k in keys)

        return self.const(check)

    def items_expr(self, v: str, item: dict[str, Any]) -> str:
        keys = set(item) - ANNOTATIONS
        if item.get("type") in ("number", "integer") and keys <= {"type", "minimum", "exclusiveMinimum"}:
            # Whole-list checks in C: element types, then the smallest element against the bound.
            allowed = self.const(frozenset(JSON_TYPES[item["type"]]))
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
        check_object_schema(schema)
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
            if set(spec) - ANNOTATIONS == {"type"}:
                by_types.setdefault(python_types(spec), []).append(name)
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
    except (Unsupported, KeyError):
        return None
    exec("\n".join(lines), gen.ns)  # noqa: S102 - source generated above from the schema
    check: Check = gen.ns["check"]
    return check


def compile_value_check(spec: dict[str, Any]) -> Check:
    """A function True only for values that one property's schema `spec` certainly accepts (the
    column path uses it for closed nested objects); raises Unsupported like the whole-record check."""
    gen = _Generator()
    check: Check = eval(f"lambda x: {gen.value_expr('x', spec)}", gen.ns)  # noqa: S307 - generated here
    return check
