"""The TableEnvironment every job runs in, configured from FlinkSettings: streaming mode, event
time with frequent watermarks, a short network buffer timeout (latency from raw to processed
matters more than batching), checkpointing, and the Kafka connector jar when it is local."""

from __future__ import annotations

from pathlib import Path

from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.table import EnvironmentSettings, StreamTableEnvironment, TableEnvironment

from config import FlinkSettings, StackSettings

KAFKA_CONNECTOR_JAR = "flink-sql-connector-kafka-5.0.0-2.2.jar"
# The project's Java functions (flink_jobs/java), built by bootstrap next to the connector.
FUNCTIONS_JAR = "obm-flink-functions.jar"
# How often sources emit watermarks. Flink's 200 ms default would be the floor of the latency of
# every event-time operator (the bars' windows and the alerts' operator wait for the watermark).
WATERMARK_INTERVAL_MS = 20
# Python DataStream operators send each record to the Python worker and take its results back
# before the next one: bundles of one. In a bigger bundle, PyFlink holds a watermark that arrives
# while the bundle is open until the bundle ends, but passes an idle status on at once, and Flink's
# outputs drop watermarks while idle: a watermark closely followed by idleness (the input stops; on
# a loaded machine both wait in the input of a Python operator that starts late) was lost for good
# and a Python operator's event-time timers never fired (issue 13: the alerts job, whose cooldown
# was such an operator until issue 21, emitted nothing). Keep Python operators off per-update
# paths: a round trip per record is their cost.
PYTHON_BUNDLE_SIZE = 1


def kafka_connector_jar(stack: StackSettings | None = None) -> Path | None:
    """The connector jar fetched by bootstrap, or None (in Compose it is in /opt/flink/lib)."""
    jar = (stack or StackSettings()).jars_dir / "flink" / KAFKA_CONNECTOR_JAR
    return jar if jar.exists() else None


def functions_jar(stack: StackSettings | None = None) -> Path | None:
    """The project's Java functions built by bootstrap, or None (in Compose: /opt/flink/lib)."""
    jar = (stack or StackSettings()).jars_dir / "flink" / FUNCTIONS_JAR
    return jar if jar.exists() else None


def job_configuration(
    flink: FlinkSettings, *, name: str, parallelism: int | None = None, with_kafka: bool = True
) -> dict[str, str]:
    conf = {
        "pipeline.name": name,
        "parallelism.default": str(parallelism or flink.parallelism),
        "pipeline.max-parallelism": str(flink.max_parallelism),
        **({"execution.checkpointing.dir": flink.checkpoint_dir} if flink.checkpoint_dir else {}),
        **({"execution.checkpointing.savepoint-dir": flink.savepoint_dir} if flink.savepoint_dir else {}),
        "execution.buffer-timeout.interval": f"{flink.buffer_timeout_ms} ms",
        "pipeline.auto-watermark-interval": f"{WATERMARK_INTERVAL_MS} ms",
        "table.exec.source.idle-timeout": f"{flink.idle_timeout_ms} ms",
        "table.local-time-zone": "UTC",
        "python.fn-execution.bundle.size": str(PYTHON_BUNDLE_SIZE),
        # Chained operators hand rows on without a defensive copy (the SQL operators copy what
        # they keep): -10% CPU on the metrics job, outputs identical (docs/benchmarks.md).
        "pipeline.object-reuse": "true",
    }
    if flink.checkpoint_interval_ms > 0:  # 0: no checkpoints (bounded runs, tests)
        conf["execution.checkpointing.interval"] = f"{flink.checkpoint_interval_ms} ms"
        # Bounded so that a transaction of the exactly-once sinks outlives any checkpoint it spans.
        conf["execution.checkpointing.timeout"] = f"{flink.checkpoint_timeout_ms} ms"
    jars = [functions_jar(), kafka_connector_jar() if with_kafka else None]
    if any(jars):
        conf["pipeline.jars"] = ";".join(j.as_uri() for j in jars if j is not None)
    return conf


def table_environment(
    flink: FlinkSettings, *, name: str, parallelism: int | None = None, with_kafka: bool = True
) -> TableEnvironment:
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = t_env.get_config()
    for key, value in job_configuration(
        flink, name=name, parallelism=parallelism, with_kafka=with_kafka
    ).items():
        config.set(key, value)
    return t_env


def flink_python_jar() -> Path:
    """flink-python from the apache-flink wheel. A session cluster has it in opt/, not lib/ (the
    Flink image too), and the JobManager needs its operator classes to accept a job with a Python
    DataStream operator: the job ships it, so no cluster needs changing."""
    import pyflink

    jars = sorted((Path(pyflink.__file__).resolve().parent / "opt").glob("flink-python-*.jar"))
    if not jars:
        raise FileNotFoundError("flink-python jar not found in the apache-flink wheel's opt/")
    return jars[-1]


def stream_table_environment(
    flink: FlinkSettings, *, name: str, parallelism: int | None = None, with_kafka: bool = True
) -> StreamTableEnvironment:
    """The same configuration on a StreamTableEnvironment, for jobs that mix SQL with DataStream
    operators (the alerts job's cooldown)."""
    conf = Configuration()
    settings = job_configuration(flink, name=name, parallelism=parallelism, with_kafka=with_kafka)
    jars = [j for j in settings.get("pipeline.jars", "").split(";") if j] + [flink_python_jar().as_uri()]
    settings["pipeline.jars"] = ";".join(jars)
    for key, value in settings.items():
        conf.set_string(key, value)
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    t_env = StreamTableEnvironment.create(env)
    for key, value in settings.items():
        t_env.get_config().set(key, value)
    return t_env
