"""The edge of every job: connector DDL (Kafka topics in production, JSON-lines files for bounded
runs and tests). Column lists are derived from the topic's JSON Schema, so the contract in
`schemas/` is the single definition of what a job reads and writes; the job logic never sees a
connector, only Tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from config import ContractSettings, FlinkSettings, KafkaSettings, MetricsJobSettings
from config.clients import ISOLATION_LEVEL
from schemas import Topic, load_schema
from schemas.conformance import contract_rules
from schemas.dlq import MAX_PAYLOAD_CHARS
from schemas.topic_policy import age_bound_ms
from schemas.topics import topic_name as contract_topic_name

# The event-time attribute every source table gets, computed from `event_time` (ms).
ROWTIME = "rt"
# The Kafka message key column of every sink (`exchange:symbol`), not part of the JSON value.
KEY_COLUMN = "record_key"
# The project's JSON format (flink_jobs/java/.../format/ObmJsonFormatFactory.java): the rows of
# Flink's `json` with `json.ignore-parse-errors` at a fraction of the CPU (fast double parsing and
# writing, no boxed arrays, no per-record JSON tree). Every Kafka source gives it the topic's
# contract (`format_contract`): a message that breaks it (not JSON, wrong types, nulls, missing or
# extra fields, non-finite or out-of-range numbers, unequal or empty book sides, event time out of
# bounds) is not an error and not dropped: it is a row whose schema columns are all NULL and whose
# REJECT_COLUMNS say why and hold the original bytes, which the jobs route to orderbook.dlq
# (pipelines.py). The file source and the sinks use it without a contract.
JSON_FORMAT = "obm-json"
# The columns a source with a contract adds for nonconforming messages (NULL on conforming rows):
# the reason (`<kind>: <detail>`), the original bytes as text and how they are encoded in it
# ('utf-8', or 'base64' for bytes that are not UTF-8): the DLQ schema's reason/payload fields.
REJECT_REASON = "obm_reject_reason"
REJECT_PAYLOAD = "obm_payload"
REJECT_PAYLOAD_ENCODING = "obm_payload_encoding"
REJECT_COLUMNS = (REJECT_REASON, REJECT_PAYLOAD, REJECT_PAYLOAD_ENCODING)
# Where a Kafka source's record came from (connector metadata), for the DLQ record.
SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET = "obm_topic", "obm_partition", "obm_offset"
# The JSON Schema keywords format_contract translates for the Java format. A schema that uses any
# other keyword fails when the DDL is built, instead of a rule the Flink jobs would not check.
_VALUE_KEYWORDS = {"type", "const", "enum", "minimum", "exclusiveMinimum", "minLength", "pattern"}
_ARRAY_KEYWORDS = {"minItems", "maxItems", "items"}
_IGNORED_KEYWORDS = {"description"}


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
    if kind == "object":  # a nested object (an alert's context): a ROW of its properties, in order
        inner = ", ".join(f"`{k}` {_sql_type(f'{name}.{k}', v)}" for k, v in spec["properties"].items())
        return f"ROW<{inner}>"
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


def _value_rule(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One property (or array items) of a JSON Schema as the format's rule: a kind, whether null
    is allowed, and the bounds the schema states."""
    unknown = set(spec) - _VALUE_KEYWORDS - _ARRAY_KEYWORDS - _IGNORED_KEYWORDS
    if unknown:
        raise ValueError(f"{name}: JSON Schema keywords {sorted(unknown)} have no obm-json rule")
    values = spec["enum"] if "enum" in spec else [spec["const"]] if "const" in spec else None
    if "type" in spec:
        kinds = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    elif values is not None:
        kinds = sorted({"integer" if isinstance(v, int) else "string" for v in values})
    else:
        raise ValueError(f"{name}: a property needs a type, const or enum")
    nullable = "null" in kinds or (values is not None and None in values)
    kinds = [k for k in kinds if k != "null"]
    if len(kinds) != 1:
        raise ValueError(f"{name}: obm-json checks properties of one type (and null), not {kinds}")
    rule: dict[str, Any] = {"type": kinds[0], "nullable": nullable}
    if values is not None:
        rule["enum"] = [v for v in values if v is not None]
    for key in ("minimum", "exclusiveMinimum", "minLength", "pattern", "minItems", "maxItems"):
        if key in spec:
            rule[key] = spec[key]
    if kinds[0] == "array":
        rule["items"] = _value_rule(f"{name}[]", spec["items"])
    return rule


def format_contract(topic: Topic) -> dict[str, Any]:
    """The topic's contract as the obm-json format checks it (its `contract` option): every
    property's rule in schema order, which are required, whether other fields are allowed, and the
    x- rules (schemas/conformance.py, the Python definition of the same contract)."""
    schema = load_schema(topic)
    unknown = set(schema) - {
        "$schema", "$id", "title", "description", "type", "required", "additionalProperties",
        "properties", "examples", "x-equal-length", "x-event-time",
    }  # fmt: skip
    if unknown:
        raise ValueError(f"{topic.value}: schema keywords {sorted(unknown)} have no obm-json rule")
    required = set(schema.get("required", []))
    rules = contract_rules(topic)
    return {
        "topic": topic.value,
        "additionalProperties": schema.get("additionalProperties", True) is not False,
        "fields": [
            {"name": name, "required": name in required, **_value_rule(name, spec)}
            for name, spec in schema["properties"].items()
        ],
        "equalLength": [list(pair) for pair in rules.equal_length],
        "eventTime": rules.event_time_field,
    }


def max_age_ms(topic: Topic, contract: ContractSettings) -> int:
    """The oldest event time a consumer accepts, as an age: the setting, or the topic's retention."""
    return age_bound_ms(topic, contract.max_age_ms)


def contract_format_options(topic: Topic, contract: ContractSettings, prefix: str) -> dict[str, str]:
    """The obm-json options that make a source check `topic`'s contract (`prefix` is the format's
    option prefix: `obm-json.`, or `value.obm-json.` on a Kafka table with a key format)."""
    options = {
        "contract": json.dumps(format_contract(topic), separators=(",", ":")),
        "reason-column": REJECT_REASON,
        "payload-column": REJECT_PAYLOAD,
        "payload-encoding-column": REJECT_PAYLOAD_ENCODING,
        "max-payload-chars": str(MAX_PAYLOAD_CHARS),
        "max-future-ms": str(contract.max_future_ms),
        "max-age-ms": str(max_age_ms(topic, contract)),
    }
    return {f"{prefix}{key}": value for key, value in options.items()}


def _with(options: dict[str, str]) -> str:
    """The WITH clause; values are SQL string literals (a quote doubled, nothing else escaped)."""
    return ",\n  ".join(f"'{k}' = '{_quoted(v)}'" for k, v in options.items())


def _quoted(value: str) -> str:
    return value.replace("'", "''")


def rowtime_expression(topic: Topic) -> str:
    """The event time of a row of `topic` as a TIMESTAMP_LTZ: its schema's x-event-time field
    (`event_time`, or `window_start` for bars)."""
    field = contract_rules(topic).event_time_field
    if field is None:
        raise ValueError(f"{topic.value} has no x-event-time: a job cannot read it in event time")
    return f"TO_TIMESTAMP_LTZ(`{field}`, 3)"


def _source_ddl(
    table: str, topic: Topic, options: dict[str, str], flink: FlinkSettings, extra_columns: str = ""
) -> str:
    """The rowtime is NULL on a rejected row (its `event_time` is NULL), and a NULL rowtime never
    moves the watermark: a record dated far ahead that breaks the contract cannot close windows."""
    lateness = flink.watermark_out_of_orderness_ms
    return (
        f"CREATE TEMPORARY TABLE `{table}` (\n  {_column_list(topic)},\n{extra_columns}"
        f"  `{ROWTIME}` AS {rowtime_expression(topic)},\n"
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
    contract: ContractSettings | None = None,
) -> str:
    """A Kafka source with event time from `event_time`, bounded out-of-orderness and an idle
    timeout (so a quiet partition does not hold the watermark back), that checks every record
    against the topic's contract (`contract`: the event-time bounds, default ContractSettings()).

    Besides the schema's columns it has the message key (KEY_COLUMN), the REJECT_COLUMNS (set
    only on a record that breaks the contract, whose schema columns are then all NULL) and where
    the record is (SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET): what a DLQ record needs.

    The partitions are read without split watermark alignment. Alignment would read them in step,
    which keeps a catch-up from filling the bars' windows and the alerts' patterns with rows of a
    partition read far ahead (measured 6x slower on 3 partitions), but in Flink 2.2.1 it can stop
    a split for good: a split paused by alignment that turns idle before its idleness clock is
    paused is never resumed (FLINK-40093, fixed in 2.2.2, which PyPI does not have). A stalled job
    is worse than a slower catch-up. (The alerts job that once emitted nothing for 180 s, first
    put down to this, stalled for another reason: environment.PYTHON_BUNDLE_SIZE.)

    Without a start timestamp the job resumes from its consumer group's committed offsets (or the
    earliest offset for a new group); a savepoint's offsets take precedence over both."""
    options = {
        "connector": "kafka",
        "topic": topic_name(kafka, topic),
        "properties.bootstrap.servers": kafka.bootstrap_servers,
        "properties.group.id": group_id,
        "properties.auto.offset.reset": "earliest",
        "properties.fetch.max.wait.ms": "20",
        # The jobs' outputs are transactional (delivery_options): never read an open or aborted one.
        "properties.isolation.level": ISOLATION_LEVEL,
        "scan.watermark.idle-timeout": f"{flink.idle_timeout_ms} ms",
        "scan.topic-partition-discovery.interval": "60 s",
        "key.format": "raw",
        "key.fields": KEY_COLUMN,
        "value.format": JSON_FORMAT,
        "value.fields-include": "EXCEPT_KEY",
        **contract_format_options(topic, contract or ContractSettings(), f"value.{JSON_FORMAT}."),
    }
    if from_timestamp_ms is not None:
        options["scan.startup.mode"] = "timestamp"
        options["scan.startup.timestamp-millis"] = str(int(from_timestamp_ms))
    else:
        options["scan.startup.mode"] = "group-offsets"
    extra = (
        f"  `{KEY_COLUMN}` STRING,\n"
        + "".join(f"  `{c}` STRING,\n" for c in REJECT_COLUMNS)
        + f"  `{SOURCE_TOPIC}` STRING METADATA FROM 'topic' VIRTUAL,\n"
        f"  `{SOURCE_PARTITION}` INT METADATA FROM 'partition' VIRTUAL,\n"
        f"  `{SOURCE_OFFSET}` BIGINT METADATA FROM 'offset' VIRTUAL,\n"
    )
    return _source_ddl(table, topic, options, flink, extra)


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


def delivery_options(kafka: KafkaSettings, flink: FlinkSettings, job: str, topic: Topic) -> dict[str, str]:
    """The sink options of FlinkSettings.delivery_guarantee.

    Exactly-once writes the records of each checkpoint in a Kafka transaction, committed when the
    checkpoint completes. Its transactional ids start with a prefix of this job and this sink's
    topic (prefix included): two sinks that shared one would fence or abort each other's
    transactions (every job has a DLQ sink on the same topic; tests run jobs on prefixed topics
    side by side). The naming strategy stays the connector's default (a new transactional id per
    subtask and checkpoint): POOLING, which reuses a few, lists the open transactions of the sink's
    topic when the job starts and fails the job while that topic does not exist yet (seen with the
    DLQ topic, which is created on its first record). Without checkpoints a transaction never
    commits, so such a job is at-least-once."""
    if flink.delivery_guarantee == "at-least-once" or flink.checkpoint_interval_ms <= 0:
        return {"sink.delivery-guarantee": "at-least-once"}
    if flink.kafka_transaction_timeout_ms > kafka.transaction_max_timeout_ms:
        raise ValueError(
            f"OBM_FLINK_KAFKA_TRANSACTION_TIMEOUT_MS ({flink.kafka_transaction_timeout_ms}) exceeds the "
            f"broker's transaction.max.timeout.ms (OBM_KAFKA_TRANSACTION_MAX_TIMEOUT_MS, "
            f"{kafka.transaction_max_timeout_ms}): the sink's producer would be refused"
        )
    return {
        "sink.delivery-guarantee": "exactly-once",
        "sink.transactional-id-prefix": f"obm-{job}-{topic_name(kafka, topic)}",
        "properties.transaction.timeout.ms": str(flink.kafka_transaction_timeout_ms),
    }


def kafka_sink_ddl(
    table: str,
    topic: Topic,
    *,
    kafka: KafkaSettings,
    flink: FlinkSettings,
    producer: MetricsJobSettings,
    job: str,
) -> str:
    """A Kafka sink of `job` keyed by `exchange:symbol` (the raw key column is not written into
    the value), exactly-once or at-least-once (delivery_options). At least once is still safe for
    the project's own sinks: alert ids and metric records are deterministic, so a replay after a
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
        **delivery_options(kafka, flink, job, topic),
    }
    return (
        f"CREATE TEMPORARY TABLE `{table}` (\n  `{KEY_COLUMN}` STRING,\n  {_column_list(topic)}\n"
        f") WITH (\n  {_with(options)}\n)"
    )


def sink_select_list(topic: Topic) -> str:
    """The SELECT list that feeds a sink of `topic` from a job's output table (by column name)."""
    return ", ".join([f"`{KEY_COLUMN}`"] + [f"`{name}`" for name, _ in schema_columns(topic)])
