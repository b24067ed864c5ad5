"""Assembles one job from its parts: environment, Kafka tables at the edges, the job's logic
(Table -> Table) in the middle. This is what runs inside `flink run` (see entrypoint.py).

Every job is two INSERTs over one source, run as one statement set: the job's logic reads only
the rows that conform to the input topic's contract, and the rows the source's format rejected
(connectors.kafka_source_ddl: reason and original bytes in the reject columns) go to
orderbook.dlq with where they came from. A record that breaks the contract is data, never an
exception: the job carries on (docs/architecture.md, "Records that break a contract")."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyflink.table import StreamTableEnvironment, Table, TableEnvironment, TableResult

from config import (
    AlertSettings,
    ContractSettings,
    FlinkSettings,
    KafkaSettings,
    MetricsJobSettings,
    PairSettings,
)
from flink_jobs.connectors import (
    KEY_COLUMN,
    REJECT_PAYLOAD,
    REJECT_PAYLOAD_ENCODING,
    REJECT_REASON,
    ROWTIME,
    SOURCE_OFFSET,
    SOURCE_PARTITION,
    SOURCE_TOPIC,
    kafka_sink_ddl,
    kafka_source_ddl,
    rowtime_expression,
    schema_columns,
    sink_select_list,
)
from flink_jobs.environment import stream_table_environment, table_environment
from flink_jobs.registry import job_definition, job_display_name
from flink_jobs.sql_building import query
from schemas import Topic


@dataclass(frozen=True)
class JobSpec:
    """Everything a job needs to know, passed to the job process as JSON (so the settings the
    CLI resolved, including new thresholds on a redeploy, are the ones the job runs with)."""

    job: str
    flink: FlinkSettings
    kafka: KafkaSettings
    metrics: MetricsJobSettings
    alerts: AlertSettings
    from_timestamp_ms: int | None = None
    parallelism: int | None = None
    contract: ContractSettings = field(default_factory=ContractSettings)
    pairs: PairSettings = field(default_factory=PairSettings)

    def to_json(self) -> str:
        import json

        return json.dumps(
            {
                "job": self.job,
                "flink": self.flink.model_dump(mode="json"),
                "kafka": self.kafka.model_dump(mode="json"),
                "metrics": self.metrics.model_dump(mode="json"),
                "alerts": self.alerts.model_dump(mode="json"),
                "from_timestamp_ms": self.from_timestamp_ms,
                "parallelism": self.parallelism,
                "contract": self.contract.model_dump(mode="json"),
                "pairs": self.pairs.model_dump(mode="json"),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> JobSpec:
        import json

        data = json.loads(text)
        return cls(
            job=data["job"],
            flink=FlinkSettings(**data["flink"]),
            kafka=KafkaSettings(**data["kafka"]),
            metrics=MetricsJobSettings(**data["metrics"]),
            alerts=AlertSettings(**data["alerts"]),
            from_timestamp_ms=data.get("from_timestamp_ms"),
            parallelism=data.get("parallelism"),
            contract=ContractSettings(**data.get("contract", {})),
            pairs=PairSettings(**data.get("pairs", {})),
        )


def dlq_source(job: str) -> str:
    """The `source` of the DLQ records a job writes: which consumer rejected the record."""
    return f"flink-{job}"


def conforming_rows(source: Table, topic: Topic) -> Table:
    """The source's rows that conform to `topic`'s contract, with the topic's columns and the time
    attribute only: what every job's logic reads (it never sees a rejected row)."""
    columns = ", ".join(f"`{name}`" for name, _ in schema_columns(topic))
    return query(source, f"SELECT {columns}, `{ROWTIME}` FROM {{src}} WHERE `{REJECT_REASON}` IS NULL")


def with_refusals(source: Table, topic: Topic, reason: str) -> Table:
    """The source with the job's own refusals among the rejects (JobDefinition.refusal): a
    conforming row for which `reason` (SQL, NULL when the row is accepted) is not NULL gets it as
    its REJECT_REASON and itself, as JSON in the schema's field order, as its payload; the logic
    then never sees it and the DLQ INSERT sends it on, as for a record that breaks the contract."""
    record = ", ".join(f"'{name}' VALUE `{name}`" for name, _ in schema_columns(topic))
    refused = f"(`{REJECT_REASON}` IS NULL AND ({reason}) IS NOT NULL)"
    replaced = {
        REJECT_REASON: f"COALESCE(`{REJECT_REASON}`, {reason})",
        REJECT_PAYLOAD: f"CASE WHEN {refused} THEN JSON_OBJECT({record}) ELSE `{REJECT_PAYLOAD}` END",
        REJECT_PAYLOAD_ENCODING: f"CASE WHEN {refused} THEN 'utf-8' ELSE `{REJECT_PAYLOAD_ENCODING}` END",
    }
    names = source.get_schema().get_field_names()
    select = ", ".join(f"{replaced[n]} AS `{n}`" if n in replaced else f"`{n}`" for n in names)
    return query(source, f"SELECT {select} FROM {{src}}")


def single_scan(t_env: StreamTableEnvironment, source: Table, topic: Topic) -> Table:
    """The source as a DataStream and back, for a job with DataStream operators (alerts).

    Why: the planner translates each Table -> DataStream conversion on its own, so the DataStream
    part of the alerts job and its DLQ INSERT would each get a Kafka source of their own: every
    record read and checked twice, and a record near an event-time bound could be accepted by one
    scan and rejected by the other. Through one DataStream both read the same scan. The rowtime
    is computed again from event_time (NULL on a rejected row) and the watermarks are the source's
    own (SOURCE_WATERMARK: per partition, with the idle timeout), as if read from the table."""
    from pyflink.table import Schema

    names = [n for n in source.get_schema().get_field_names() if n != ROWTIME]
    plain = query(source, "SELECT " + ", ".join(f"`{n}`" for n in names) + " FROM {src}")
    schema = (
        Schema.new_builder()
        .column_by_expression(ROWTIME, rowtime_expression(topic))
        .watermark(ROWTIME, "SOURCE_WATERMARK()")
        .build()
    )
    return t_env.from_data_stream(t_env.to_data_stream(plain), schema)


def dlq_select(job: str, source: str) -> str:
    """The DLQ records of the rows `source` rejected, in the DLQ sink's column order: the reason,
    the original bytes, and topic, partition, offset and key of the record (schemas/dlq.py builds
    the same record in Python). error_time_ms is when the job read it (CURRENT_TIMESTAMP is
    evaluated once per row, so its two uses agree)."""
    now = "CURRENT_TIMESTAMP"
    columns = {
        KEY_COLUMN: f"`{KEY_COLUMN}`",
        "schema_version": "1",
        "source": f"'{dlq_source(job)}'",
        "origin": f"`{SOURCE_TOPIC}` || '[' || CAST(`{SOURCE_PARTITION}` AS STRING) || ']@'"
        f" || CAST(`{SOURCE_OFFSET}` AS STRING)",
        "topic": f"`{SOURCE_TOPIC}`",
        "partition": f"CAST(`{SOURCE_PARTITION}` AS BIGINT)",
        "offset": f"`{SOURCE_OFFSET}`",
        "key": f"`{KEY_COLUMN}`",
        "reason": f"`{REJECT_REASON}`",
        "payload": f"`{REJECT_PAYLOAD}`",
        "payload_encoding": f"`{REJECT_PAYLOAD_ENCODING}`",
        "error_time_ms": f"CAST(EXTRACT(EPOCH FROM {now}) AS BIGINT) * 1000"
        f" + MOD(CAST(EXTRACT(MILLISECOND FROM {now}) AS BIGINT), 1000)",
    }
    expected = [KEY_COLUMN] + [name for name, _ in schema_columns(Topic.DLQ)]
    assert list(columns) == expected, "the DLQ select list follows the DLQ schema"
    select = ",\n  ".join(f"{expr} AS `{name}`" for name, expr in columns.items())
    return f"SELECT\n  {select}\nFROM `{source}` WHERE `{REJECT_REASON}` IS NOT NULL"


def build_pipeline(spec: JobSpec) -> tuple[TableEnvironment, str]:
    """The environment with source and sinks registered, and the statement (a statement set of
    the job's INSERT and the DLQ INSERT) that runs the job."""
    job = job_definition(spec.job)
    create = stream_table_environment if job.stream_env else table_environment
    t_env = create(spec.flink, name=job_display_name(spec.job), parallelism=spec.parallelism)
    in_topic = job.input_topic
    t_env.execute_sql(
        kafka_source_ddl(
            "source",
            in_topic,
            kafka=spec.kafka,
            flink=spec.flink,
            group_id=f"obm-flink-{spec.job}",
            from_timestamp_ms=spec.from_timestamp_ms,
            contract=spec.contract,
        )
    )
    source = t_env.from_path("source")
    if isinstance(t_env, StreamTableEnvironment):
        source = single_scan(t_env, source, in_topic)
    if job.refusal is not None:
        source = with_refusals(source, in_topic, job.refusal(spec))
    t_env.create_temporary_view("checked_source", source)
    out_topic, output = job.output_topic, job.logic(conforming_rows(source, in_topic), spec)
    for table, topic in (("sink", out_topic), ("dlq", Topic.DLQ)):
        t_env.execute_sql(
            kafka_sink_ddl(
                table, topic, kafka=spec.kafka, flink=spec.flink, producer=spec.metrics, job=spec.job
            )
        )
    selected = query(output, f"SELECT {sink_select_list(out_topic)} FROM {{src}}")
    t_env.create_temporary_view("job_output", selected)
    return t_env, (
        "EXECUTE STATEMENT SET BEGIN\n"
        "INSERT INTO `sink` SELECT * FROM `job_output`;\n"
        f"INSERT INTO `dlq` {dlq_select(spec.job, 'checked_source')};\n"
        "END;"
    )


def run(spec: JobSpec) -> TableResult:
    """Submit the job (returns once the job is submitted; `flink run -d` detaches)."""
    t_env, insert = build_pipeline(spec)
    return t_env.execute_sql(insert)
