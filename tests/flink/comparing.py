"""Field-by-field comparison of job output with a reference, with the float tolerances the
brief allows (SQL DOUBLE arithmetic in another order than numpy's)."""

from __future__ import annotations

import math
from typing import Any


def tolerance(field: str) -> tuple[float, float]:
    """(relative, absolute) tolerance of one field. The window moments and the microprice lean
    are exact to ~1e-12 relative (docs/metrics.md, numerics), so only values near 0 get an
    absolute allowance; the rest is SQL DOUBLE arithmetic in another order than numpy's."""
    if field.endswith("_std"):
        return 1e-9, 1e-15
    if field.endswith("_z"):
        return 1e-9, 1e-12
    if field.endswith("_mean"):
        return 1e-9, 1e-12
    if field == "microprice_lean_bps":
        return 1e-9, 1e-15
    return 1e-9, 1e-9


def mismatches(actual: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    problems = []
    for field, want in expected.items():
        got = actual.get(field)
        if want is None or got is None:
            if want is not got:
                problems.append(f"{field}: got {got!r}, expected {want!r}")
        elif isinstance(want, bool):
            if got is not want:
                problems.append(f"{field}: got {got!r}, expected {want!r}")
        else:
            rel, abs_ = tolerance(field)
            if not math.isclose(float(got), float(want), rel_tol=rel, abs_tol=abs_):
                problems.append(f"{field}: got {got!r}, expected {want!r}")
    return problems
