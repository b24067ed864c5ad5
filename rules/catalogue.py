"""Where a user rule's metric comes from (its source) and which metrics each source has, derived
from the topic schemas in schemas/ (one place): every numeric property of the source topic's
schema, and every decimal-text one (trades.bars' prices and volumes, the pairs' closes), less the
fields that say which record or when.

A source is a topic the rules jobs read (flink_jobs/user_rules.py, one job per topic): the books
(orderbook.processed), the book bars and the trade bars of one interval (`orderbook.bars:1m`,
`trades.bars:5m`: a rule watches one interval, each bar kind's intervals from its schema), or the
pair analytics (keyed by the pair, so a pair scope)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from schemas import Topic, load_schema

# Fields that say which record or when, never a measured value.
NOT_METRICS = frozenset(
    {
        "schema_version",
        "event_time",
        "receive_time_ns",
        "sequence_id",
        "window_start",
        "window_end",
        "adf_time",
    }
)
# Separates a bar topic from the interval in a source's name: trades.bars:1m.
INTERVAL_SEPARATOR = ":"
# What a decimal text of a schema must accept (and the rules job parses as a double).
_DECIMAL_SAMPLES = ("2511.51", "-0.5", "7")


@dataclass(frozen=True)
class RuleSource:
    """Records a rule may watch: a topic, and for bar topics one interval."""

    topic: Topic
    interval: str | None = None

    @property
    def name(self) -> str:
        return self.topic.value + (f"{INTERVAL_SEPARATOR}{self.interval}" if self.interval else "")

    @property
    def pairs(self) -> bool:
        """Keyed by the pair y/x (a pair scope), not by exchange:symbol."""
        return self.topic is Topic.PAIRS

    @property
    def metrics(self) -> tuple[str, ...]:
        return metric_fields(self.topic)


def _intervals(topic: Topic) -> tuple[str, ...]:
    return tuple(load_schema(topic)["properties"]["interval"]["enum"])


# Every source, in the order the dashboard lists them; the books first (the default).
RULE_SOURCES: tuple[RuleSource, ...] = (
    RuleSource(Topic.PROCESSED),
    *(RuleSource(Topic.BARS, i) for i in _intervals(Topic.BARS)),
    *(RuleSource(Topic.TRADE_BARS, i) for i in _intervals(Topic.TRADE_BARS)),
    RuleSource(Topic.PAIRS),
)
DEFAULT_SOURCE = RULE_SOURCES[0].name
SOURCES_BY_NAME: dict[str, RuleSource] = {s.name: s for s in RULE_SOURCES}
# The topics the rules jobs read.
SOURCE_TOPICS: tuple[Topic, ...] = tuple(dict.fromkeys(s.topic for s in RULE_SOURCES))


def _measured(spec: dict[str, object]) -> bool:
    """A number, or a decimal text (a string whose pattern accepts decimals)."""
    kinds = spec.get("type", [])
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if {"number", "integer"} & set(kinds):
        return True
    pattern = spec.get("pattern")
    return (
        "string" in kinds and isinstance(pattern, str) and all(re.match(pattern, s) for s in _DECIMAL_SAMPLES)
    )


@cache
def metric_fields(topic: Topic = Topic.PROCESSED) -> tuple[str, ...]:
    """The measured fields of `topic` a rule may watch, in schema order."""
    props: dict[str, dict[str, object]] = load_schema(topic)["properties"]
    return tuple(name for name, spec in props.items() if _measured(spec) and name not in NOT_METRICS)


def rule_metrics(source: str = DEFAULT_SOURCE) -> tuple[str, ...]:
    """Every metric a rule on `source` (a name of RULE_SOURCES) may name."""
    return SOURCES_BY_NAME[source].metrics
