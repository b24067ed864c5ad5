"""Field-by-field comparison of job output with a reference, with the float tolerances the
brief allows (SQL DOUBLE arithmetic in another order than numpy's)."""

from __future__ import annotations

import math
from typing import Any


def tolerance(field: str, expected_row: dict[str, Any]) -> tuple[float, float]:
    """(relative, absolute) tolerance of one field."""
    if field.endswith("_std"):
        mean = expected_row.get(field.replace("_std", "_mean")) or 0.0
        # SUM(x^2) - SUM(x)^2/n in the job, a two-pass std in numpy: noise ~ sqrt(eps) * |mean|
        return 1e-6, 1e-7 * abs(mean) + 1e-9
    if field.endswith("_z"):
        return 1e-5, 1e-6
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
            rel, abs_ = tolerance(field, expected)
            if not math.isclose(float(got), float(want), rel_tol=rel, abs_tol=abs_):
                problems.append(f"{field}: got {got!r}, expected {want!r}")
    return problems
