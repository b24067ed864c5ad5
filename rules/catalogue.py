"""The metrics a user rule may watch, derived from the topic schemas in schemas/ (one place): every
numeric property of a source topic's schema, less the identity and time fields. Only topics the
`rules` job reads are sources: today orderbook.processed. Bars and pair analytics join the tuple
when the job reads them (their schemas already list their fields)."""

from __future__ import annotations

from functools import cache

from schemas import Topic, load_schema

# Topics whose records the rules job evaluates rules on.
RULE_SOURCES: tuple[Topic, ...] = (Topic.PROCESSED,)
# Numeric fields that say which record or when, never a measured value.
NOT_METRICS = frozenset({"schema_version", "event_time", "receive_time_ns", "sequence_id"})


def _numeric(spec: dict[str, object]) -> bool:
    kinds = spec.get("type", [])
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return bool({"number", "integer"} & set(kinds))


@cache
def metric_fields(topic: Topic = Topic.PROCESSED) -> tuple[str, ...]:
    """The numeric fields of `topic` a rule may watch, in schema order."""
    props: dict[str, dict[str, object]] = load_schema(topic)["properties"]
    return tuple(name for name, spec in props.items() if _numeric(spec) and name not in NOT_METRICS)


def rule_metrics() -> tuple[str, ...]:
    """Every metric a rule may name, over the rule sources."""
    return tuple(name for topic in RULE_SOURCES for name in metric_fields(topic))
