"""Assembles one job from its parts: environment, Kafka tables at the edges, the job's logic
(Table -> Table) in the middle. This is what runs inside `flink run` (see entrypoint.py)."""

from __future__ import annotations

from dataclasses import dataclass

from pyflink.table import TableEnvironment, TableResult

from config import AlertSettings, FlinkSettings, KafkaSettings, MetricsJobSettings
from flink_jobs.connectors import kafka_sink_ddl, kafka_source_ddl, sink_select_list
from flink_jobs.environment import stream_table_environment, table_environment
from flink_jobs.registry import job_definition, job_display_name
from flink_jobs.sql_building import query


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
        )


def build_pipeline(spec: JobSpec) -> tuple[TableEnvironment, str]:
    """The environment with source and sink registered, and the INSERT statement of the job."""
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
        )
    )
    out_topic, output = job.output_topic, job.logic(t_env.from_path("source"), spec)
    t_env.execute_sql(kafka_sink_ddl("sink", out_topic, kafka=spec.kafka, producer=spec.metrics))
    selected = query(output, f"SELECT {sink_select_list(out_topic)} FROM {{src}}")
    t_env.create_temporary_view("job_output", selected)
    return t_env, "INSERT INTO `sink` SELECT * FROM `job_output`"


def run(spec: JobSpec) -> TableResult:
    """Submit the job (returns once the job is submitted; `flink run -d` detaches)."""
    t_env, insert = build_pipeline(spec)
    return t_env.execute_sql(insert)
