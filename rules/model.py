"""A user alert rule and its validation: pure, no I/O. The store (store.py), the CLI and the
dashboard's Rules page all build rules through `parse_rule`, so a user gets the same messages
wherever a rule is entered, each naming the field and what would be accepted."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from rules.catalogue import DEFAULT_SOURCE, RULE_SOURCES, SOURCES_BY_NAME
from schemas import Topic, load_schema
from schemas.topics import KEY_SEPARATOR

# Separates the legs of a pair id and of a pair scope: y/x (pairs.analytics' `pair`).
PAIR_SEPARATOR = "/"

CONDITIONS = (">", "<", "crosses above", "crosses below", "abs >")
# The alert severities, from the alerts schema.
SEVERITIES: tuple[str, ...] = tuple(load_schema(Topic.ALERTS)["properties"]["severity"]["enum"])
ALL_SCOPE = "all"
# Scope patterns: letters, digits, _ - and the wildcards * (any run) and ? (one character), which
# the Java function matches the same way (RuleScope).
_PATTERN = re.compile(r"^[A-Za-z0-9_\-*?]+$")
MAX_DURATION_MS = 86_400_000
MAX_NAME = 80
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, None: 1}


class RuleInvalid(ValueError):
    """The rule cannot be stored: `problems` maps each field to what is wrong with it."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {why}" for field, why in problems.items()))
        self.problems = problems


@dataclass(frozen=True)
class Rule:
    """One rule. rule_id and version are given by the store (0 before it is stored); an edit
    increments the version, and the running job starts the rule's episodes afresh on a new one."""

    name: str
    metric: str
    scope: str
    condition: str
    threshold: float
    min_duration_ms: int = 0
    cooldown_ms: int = 60_000
    severity: str = "medium"
    enabled: bool = True
    source: str = DEFAULT_SOURCE
    rule_id: int = 0
    version: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        held = f" for {self.min_duration_ms} ms" if self.min_duration_ms else ""
        of = "" if self.source == DEFAULT_SOURCE else f" of {self.source}"
        return f"{self.metric}{of} {self.condition} {self.threshold:g}{held} on {self.scope}"


def parse_duration_ms(value: object, field: str, problems: dict[str, str]) -> int:
    """Milliseconds from an int or text like `500ms`, `2s`, `1.5m`, `1h` (plain numbers are ms)."""
    if isinstance(value, bool):
        problems[field] = "a duration like 500ms, 2s or 1m"
        return 0
    if isinstance(value, int):
        ms = value
    else:
        match = _DURATION.match(str(value))
        if not match:
            problems[field] = f"{value!r} is not a duration; write e.g. 500ms, 2s, 1m or 1h"
            return 0
        ms = round(float(match.group(1)) * _UNIT_MS[match.group(2)])
    if not 0 <= ms <= MAX_DURATION_MS:
        problems[field] = f"must be between 0 and 24h, not {ms} ms"
    return ms


def _key_pattern_problem(scope: str) -> str | None:
    """Why `scope` is no exchange:symbol pattern (or symbol pattern), or None."""
    parts = scope.split(KEY_SEPARATOR)
    if len(parts) > 2 or not all(parts):
        return f"{scope!r}: write exchange:symbol with one ':' and both parts, e.g. binance:ETHUSDT or *:BTC*"
    for part in parts:
        if not _PATTERN.match(part):
            return f"{part!r}: only letters, digits, _ - and the wildcards * and ? are allowed"
    return None


def scope_problem(scope: str, pairs: bool = False) -> str | None:
    """Why `scope` is not a scope, or None. Books and bars: `all`, `exchange:symbol` with
    wildcards (`binance:BTC*`, `*:ETHUSDT`), or a symbol pattern on every venue (`ETH*`). Pair
    analytics (`pairs`): `all` or a pair `y/x` of two exchange:symbol patterns
    (`binance:ETHUSDT/binance:BTCUSDT`, `*:ETH*/*`)."""
    if scope == ALL_SCOPE:
        return None
    if pairs:
        legs = scope.split(PAIR_SEPARATOR)
        if len(legs) != 2:
            return "a pair scope is all or y/x, e.g. binance:ETHUSDT/binance:BTCUSDT or binance:*/binance:BTCUSDT"
        for leg in legs:
            if leg == "*":
                continue
            if KEY_SEPARATOR not in leg:
                return f"{leg!r}: each leg of a pair is exchange:symbol (wildcards allowed), or *"
            if (why := _key_pattern_problem(leg)) is not None:
                return why
        return None
    if not scope:
        return "say which books: all, exchange:symbol (e.g. binance:ETHUSDT, *:BTC*) or a symbol"
    if PAIR_SEPARATOR in scope or scope.lower().startswith("pair"):
        return "a pair scope (y/x) needs a rule on pairs.analytics; pick that source"
    return _key_pattern_problem(scope)


def _number(value: object, field: str, problems: dict[str, str]) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        problems[field] = f"{value!r} is not a number"
        return 0.0
    if isinstance(value, bool) or not math.isfinite(number):
        problems[field] = f"{value!r} is not a finite number"
    return number


def parse_rule(fields: Mapping[str, Any]) -> Rule:
    """A Rule from user input (CLI options, a dashboard form, a stored row), or RuleInvalid with
    every problem found, each per field."""
    problems: dict[str, str] = {}
    name = str(fields.get("name") or "").strip()
    if not name or len(name) > MAX_NAME:
        problems["name"] = f"give the rule a name of 1 to {MAX_NAME} characters"
    source_name = str(fields.get("source") or DEFAULT_SOURCE).strip()
    source = SOURCES_BY_NAME.get(source_name)
    if source is None:
        problems["source"] = f"{source_name!r} is not a source; one of {', '.join(SOURCES_BY_NAME)}"
    metric = str(fields.get("metric") or "").strip()
    if source is not None and metric not in source.metrics:
        near = [m for m in source.metrics if metric and (metric in m or m in metric)]
        hint = f"; did you mean {', '.join(near[:4])}?" if near else f"; one of {', '.join(source.metrics)}"
        elsewhere = [s.name for s in RULE_SOURCES if metric in s.metrics]
        if elsewhere:
            hint += f" ({metric} is a field of {', '.join(elsewhere)})"
        problems["metric"] = f"{metric!r} is not a numeric field of {source_name}{hint}"
    scope = str(fields.get("scope") or ALL_SCOPE).strip()
    scope = ALL_SCOPE if scope.lower() == ALL_SCOPE or scope in ("*", "*:*", "*/*") else scope
    if (why := scope_problem(scope, pairs=source is not None and source.pairs)) is not None:
        problems["scope"] = why
    condition = " ".join(str(fields.get("condition") or "").lower().split())
    if condition not in CONDITIONS:
        problems["condition"] = f"{condition!r} is not a condition; one of {', '.join(CONDITIONS)}"
    threshold = _number(fields.get("threshold"), "threshold", problems)
    if condition == "abs >" and threshold < 0 and "threshold" not in problems:
        problems["threshold"] = "abs > needs a threshold of 0 or more (an absolute value is never negative)"
    min_duration = parse_duration_ms(fields.get("min_duration_ms", 0), "min_duration_ms", problems)
    cooldown = parse_duration_ms(fields.get("cooldown_ms", 60_000), "cooldown_ms", problems)
    severity = str(fields.get("severity") or "medium").lower()
    if severity not in SEVERITIES:
        problems["severity"] = f"{severity!r}: one of {', '.join(SEVERITIES)}"
    enabled = fields.get("enabled", True)
    if not isinstance(enabled, bool):
        problems["enabled"] = "true or false"
    if problems:
        raise RuleInvalid(problems)
    return Rule(
        name=name,
        metric=metric,
        scope=scope,
        condition=condition,
        threshold=threshold,
        min_duration_ms=min_duration,
        cooldown_ms=cooldown,
        severity=severity,
        enabled=bool(enabled),
        source=source_name,
        rule_id=int(fields.get("rule_id") or 0),
        version=int(fields.get("version") or 0),
    )
