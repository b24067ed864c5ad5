"""The JSON Schema vocabulary the sinks' generated decoders understand: one table of types and
keywords for the fast check (fast_check.py), the column path (columns.py) and the struct path
(structs.py).

Each of them translates only what it is certain of and refuses the rest (`Unsupported`), which
turns its path off for that topic: a decoder may decline what `nonconformity` accepts, never
accept what it rejects. What they share is here: which JSON types are which Python types (as orjson
decodes them: a JSON integer is an int, a fraction a float, never bool for a number), which
keywords are annotations without meaning for validation, the object-level keywords, the translation
of ECMA-262 patterns, and the object-level conditions every path relies on.
"""

from __future__ import annotations

import re
from typing import Any

# JSON Schema type name -> the Python types orjson decodes such a value to.
JSON_TYPES: dict[str, tuple[type, ...]] = {
    "number": (int, float),
    "integer": (int,),
    "null": (type(None),),
    "boolean": (bool,),
    "string": (str,),
    "array": (list,),
    "object": (dict,),
}
NUMBERS = frozenset((int, float))
# Keywords that say nothing about validity.
ANNOTATIONS = frozenset({"description", "title", "examples", "$comment"})
# The object-level keywords of the topic schemas (a topic schema is one object with properties).
OBJECT_KEYWORDS = frozenset({"$schema", "$id", "type", "required", "additionalProperties", "properties"})


class Unsupported(Exception):
    """A schema uses something a decoder does not translate with certainty: its path is off."""


# The keywords of a closed nested object property (e.g. an alert's `context`): its type must be
# object (or object and null), and it must not allow other properties than those it names.
NESTED_OBJECT_KEYWORDS = frozenset({"type", "properties", "additionalProperties", "required"})


def nested_object(spec: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], frozenset[str]] | None:
    """(properties, required names) of a closed nested object property; None when `spec` is not
    an object property; raises Unsupported for an object property any decoder path could get wrong
    (open to other properties, other keywords, or a required name that is not a property)."""
    if "properties" not in spec and not ("type" in spec and "object" in type_names(spec)):
        return None
    if set(spec) - ANNOTATIONS - NESTED_OBJECT_KEYWORDS or spec.get("additionalProperties") is not False:
        raise Unsupported("an object property that is not closed")
    if (
        "type" not in spec
        or not set(type_names(spec)) <= {"object", "null"}
        or "object" not in type_names(spec)
    ):
        raise Unsupported("an object property of other types")
    props: dict[str, dict[str, Any]] = spec.get("properties", {})
    required = frozenset(spec.get("required", ()))
    if not required <= set(props):
        raise Unsupported("a required name that is not a property")
    return props, required


def type_names(spec: dict[str, Any]) -> list[str]:
    """The JSON type names a property's `type` allows (a string or a list in JSON Schema)."""
    t = spec["type"]
    return list(t) if isinstance(t, list) else [t]


def python_types(spec: dict[str, Any]) -> frozenset[type]:
    """The Python types of the values a property's `type` allows."""
    return frozenset(t for name in type_names(spec) for t in JSON_TYPES[name])


def ecma_pattern(pattern: str) -> re.Pattern[str] | None:
    """A Python regex that matches exactly what the JSON Schema (ECMA-262) `pattern` matches, for the
    simple patterns of the contract; None for anything it cannot translate with certainty."""
    # ECMA-262 "$" without the multiline flag means end of input, which is Python's \Z.
    if "$" in pattern[:-1] or "\\" in pattern:
        return None
    return re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern)


def check_object_schema(schema: dict[str, Any]) -> None:
    """Raises Unsupported unless the topic schema is a closed object: only the known object-level
    keywords (plus annotations and the contract's `x-` rules, which schemas/conformance.py defines
    and sinks.decoding.contract checks), `type: object`, `additionalProperties: false`, and every
    required name among the properties. The `x-event-time` field must be a required integer and the
    `x-equal-length` fields required arrays: the paths check them over whole columns."""
    contract_rules = {k for k in schema if k.startswith("x-")}
    unknown = set(schema) - ANNOTATIONS - OBJECT_KEYWORDS - contract_rules
    if unknown or schema.get("type") != "object":
        raise Unsupported(f"schema keywords {sorted(unknown)}")
    props = schema.get("properties", {})
    required = set(schema.get("required", ()))
    if schema.get("additionalProperties") is not False or not required <= set(props):
        raise Unsupported("additionalProperties or required")
    field = schema.get("x-event-time")
    if field is not None and (field not in required or props[field].get("type") != "integer"):
        raise Unsupported(f"x-event-time {field!r} is not a required integer")
    for name in (n for pair in schema.get("x-equal-length", ()) for n in pair):
        if name not in required or props[name].get("type") != "array":
            raise Unsupported(f"x-equal-length {name!r} is not a required array")
