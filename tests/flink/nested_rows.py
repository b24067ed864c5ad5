"""Nested ROW columns (an alert's `context`) in collected results: PyFlink's collect cannot hand
over a nested row with a null field (it fails unpickling the empty bytes of that field), so such a
column is selected leaf by leaf (with an IS NULL flag per nested row) and folded back into a dict
(None for a NULL row)."""

from __future__ import annotations

from typing import Any


def row_fields(sql_type: str) -> list[tuple[str, str]]:
    """(name, type) of each field of "ROW<`a` T, `b` ROW<...>>" (a NOT NULL after it ignored)."""
    inner, parts, depth, start = sql_type.removesuffix(" NOT NULL")[4:-1], [], 0, 0
    for i, ch in enumerate(inner):
        depth += (ch == "<") - (ch == ">")
        if ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    return [(p.strip().split("`")[1], p.strip().split("`", 2)[2].strip()) for p in parts]


def leaves(expr: str, sql_type: str) -> list[str]:
    """The SQL of a column: itself, or for a nested row `IS NULL` and then each field (nested rows
    recursively)."""
    if not sql_type.startswith("ROW<"):
        return [expr]
    out = [f"{expr} IS NULL"]
    for name, inner in row_fields(sql_type):
        out += leaves(f"{expr}.`{name}`", inner)
    return out


def fold(values: list[Any], types: list[str]) -> tuple:
    """The values of `leaves` back into one value per column (a nested row as a dict)."""
    values = list(values)

    def take(sql_type: str) -> Any:
        if not sql_type.startswith("ROW<"):
            return values.pop(0)
        is_null = values.pop(0)
        fields = {name: take(inner) for name, inner in row_fields(sql_type)}
        return None if is_null else fields

    return tuple(take(t) for t in types)
