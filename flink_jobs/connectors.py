"""The edge of every job: connector DDL (Kafka topics in production, JSON-lines files for bounded
runs and tests). Column lists are derived from the topic's JSON Schema, so the contract in
`schemas/` is the single definition of what a job reads and writes; the job logic never sees a
connector, only Tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from config import FlinkSettings, KafkaSettings, MetricsJobSettings
from schemas import Topic, load_schema
from schemas.topics import topic_name as contract_topic_name

# The event-time attribute every source table gets, computed from `event_time` (ms).
ROWTIME = "rt"
# The Kafka message key column of every sink (`exchange:symbol`), not part of the JSON value.
KEY_COLUMN = "record_key"
# The project's JSON format (jvm/flink-functions/.../format/ObmJsonFormatFactory.java): the rows of
# Flink's `json` with `json.ignore-parse-errors` (a malformed record gives no row; the producer has
# already routed those to the DLQ), at a fraction of the CPU (fast double parsing and writing, no
# boxed arrays, no per-record JSON tree). Option-less.
JSON_FORMAT = "obm-json"


def topic_name(kafka: KafkaSettings, topic: Topic) -> str:
    return contract_topic_name(topic, kafka.topic_prefix)


def _sql_type(name: str, spec: dict[str, Any]) -> str:
    """Map one JSON Schema property to a Flink SQL type."""
    if "const" in spec or "enum" in spec:
        values = spec.get("enum", [spec.get("const")])
        return "INT" if all(isinstance(v, int) and not isinstance(v, bool) for v in values) else "STRING"
    kinds = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    kinds = [k for k in kinds if k != "null"]
    kind = kinds[0]
    if kind == "array":
        return f"ARRAY<{_sql_type(name, spec['items'])}>"
    mapping = {"integer": "BIGINT", "number": "DOUBLE", "boolean": "BOOLEAN", "string": "STRING"}
    if kind not in mapping:
        raise ValueError(f"no SQL type for {name}: {spec}")
    return mapping[kind]


def schema_columns(topic: Topic) -> list[tuple[str, str]]:
    """(column, SQL type) for every property of the topic's schema, in schema order."""
    props: dict[str, Any] = load_schema(topic)["properties"]
    return [(name, _sql_type(name, spec)) for name, spec in props.items()]


def _column_list(topic: Topic) -> str:
    return ",\n  ".join(f"`{name}` {sql_type}" for name, sql_type in schema_columns(topic))


def _with(options: dict[str, str]) -> str:
    return ",\n  ".join(f"'{k}' = '{v}'" for k, v in options.items())


def _source_ddl(table: str, topic: Topic, options: dict[str, str], flink: FlinkSettings) -> str:
    lateness = flink.watermark_out_of_orderness_ms
    return (
        f"CREATE TEMPORARY TABLE `{table}` (\n  {_column_list(topic)},\n"
        f"  `{ROWTIME}` AS TO_TIMESTAMP_LTZ(`event_time`, 3),\n"
        f"  WATERMARK FOR `{ROWTIME}` AS `{ROWTIME}` - INTERVAL '{lateness / 1000:.3f}' SECOND\n"
        f") WITH (\n  {_with(options)}\n)"
    )


def kafka_source_ddl(
    table: str,
    topic: Topic,
    *,
    kafka: KafkaSettings,
    flink: FlinkSettings,
    group_id: str,
    from_timestamp_ms: int | None = None,
) -> str:
    """A Kafka source with event time from `event_time`, bounded out-of-orderness and an idle
    timeout (so a quiet partition does not hold the watermark back).

    The partitions are read without split watermark alignment. Alignment would read them in step,
    which keeps a catch-up from filling the bars' windows and the alerts' patterns with rows of a
    partition read far ahead (measured 6x slower on 3 partitions), but in Flink 2.2.1 it can stop
    a split for good: a split paused by alignment that turns idle before its idleness clock is
    paused is never resumed (FLINK-40093, fixed in 2.2.2, which PyPI does not have). The likely
    cause of an alerts job in a CI run that emitted nothing for 180 s with all its input in Kafka
    (2026-12-03; not reproduced in reruns). A stalled job is worse than a slower catch-up.

    Without a start timestamp the job resumes from its consumer group's committed offsets (or the
    earliest offset for a new group); a savepoint's offsets take precedence over both."""
    options = {
        "connector": "kafka",
        "topic": topic_name(kafka, topic),
        "properties.bootstrap.servers": kafka.bootstrap_servers,
        "properties.group.id": group_id,
        "properties.auto.offset.reset": "earliest",
        "properties.fetch.max.wait.ms": "20",
        "scan.watermark.idle-timeout": f"{flink.idle_timeout_ms} ms",
        "scan.topic-partition-discovery.interval": "60 s",
        "format": JSON_FORMAT,
    }
    if from_timestamp_ms is not None:
        options["scan.startup.mode"] = "timestamp"
        options["scan.startup.timestamp-millis"] = str(int(from_timestamp_ms))
    else:
        options["scan.startup.mode"] = "group-offsets"
    return _source_ddl(table, topic, options, flink)


def file_source_ddl(
    table: str, topic: Topic, path: Path, *, flink: FlinkSettings, watermark_each_record: bool = False
) -> str:
    """A bounded JSON-lines source with the same columns and time attribute as the Kafka one,
    for tests and offline replays: the job logic cannot tell them apart.

    `watermark_each_record` emits a watermark after every record instead of periodically: a
    bounded file is read faster than the watermark interval, so only then is a row that arrives
    behind the others really behind the watermark (tests of late rows)."""
    options = {"connector": "filesystem", "path": str(path), "format": JSON_FORMAT}
    if watermark_each_record:
        options["scan.watermark.emit.strategy"] = "on-event"
    return _source_ddl(table, topic, options, flink)


def kafka_sink_ddl(table: str, topic: Topic, *, kafka: KafkaSettings, producer: MetricsJobSettings) -> str:
    """A Kafka sink keyed by `exchange:symbol` (the raw key column is not written into the
    value), at-least-once: alert ids and metric records are deterministic, so a replay after a
    failure writes the same records again rather than different ones. Its producer's linger,
    compression and batch size are settings (why the defaults: config/settings.py)."""
    options = {
        "connector": "kafka",
        "topic": topic_name(kafka, topic),
        "properties.bootstrap.servers": kafka.bootstrap_servers,
        "properties.linger.ms": str(producer.kafka_linger_ms),
        "properties.compression.type": producer.kafka_compression,
        "properties.batch.size": str(producer.kafka_batch_bytes),
        "key.format": "raw",
        "key.fields": KEY_COLUMN,
        "value.format": JSON_FORMAT,
        "value.fields-include": "EXCEPT_KEY",
        "sink.delivery-guarantee": "at-least-once",
    }
    return (
        f"CREATE TEMPORARY TABLE `{table}` (\n  `{KEY_COLUMN}` STRING,\n  {_column_list(topic)}\n"
        f") WITH (\n  {_with(options)}\n)"
    )


def sink_select_list(topic: Topic) -> str:
    """The SELECT list that feeds a sink of `topic` from a job's output table (by column name)."""
    return ", ".join([f"`{KEY_COLUMN}`"] + [f"`{name}`" for name, _ in schema_columns(topic)])
