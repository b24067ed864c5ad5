"""Throughput of the metrics job from Kafka to Kafka on one slot (target: >= 50k updates/s), and
the cost of each part, from three jobs over the same preloaded orderbook.raw topic:

  decode   raw JSON -> rows (every array read) -> a tiny record on Kafka
  sql      the same plus the whole metric SQL -> a tiny record (a checksum of every output
           column, so the planner cannot drop any metric)
  full     the metrics job as deployed: raw -> orderbook.processed (JSON encode, Kafka produce)

Rates are steady state: output records (counted by end offsets, not read) between 50% and 95% of
the input, once the JIT has compiled the generated code and the 60 s baselines are full; with them,
the CPU per update of each thread of the job's JVM and of the broker over the same span: the
busiest task thread bounds what the slot can do, whatever else shares the machine;
per-record costs are differences of 1/rate. Run: .venv/bin/python -m bench.flink_metrics_throughput
(--parallelism 1,2 runs each variant at both parallelisms, alternated, and prints the ratio)."""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

from bench.flink_harness import (
    broker,
    create_topics,
    filesystem_checkpoints,
    job_jvm_cpu_s,
    load_average,
    output_progress,
    produce_bulk,
    steady_state,
)
from config import FlinkSettings, KafkaSettings, MetricsJobSettings
from flink_jobs.connectors import (
    KEY_COLUMN,
    kafka_sink_ddl,
    kafka_source_ddl,
    schema_columns,
    sink_select_list,
    topic_name,
)
from flink_jobs.environment import table_environment
from flink_jobs.metrics import metrics_table
from flink_jobs.sql_building import query
from schemas import Topic

VARIANTS = ("decode", "sql", "full")


def _small_sink_ddl(table: str, topic: str, kafka: KafkaSettings) -> str:
    return (
        f"CREATE TEMPORARY TABLE `{table}` (`{KEY_COLUMN}` STRING, sequence_id BIGINT, x DOUBLE) WITH ("
        f"'connector' = 'kafka', 'topic' = '{topic}', 'properties.bootstrap.servers' = '{kafka.bootstrap_servers}', "
        "'properties.linger.ms' = '5', 'key.format' = 'raw', 'key.fields' = 'record_key', 'value.format' = 'json', "
        "'value.fields-include' = 'EXCEPT_KEY', 'sink.delivery-guarantee' = 'at-least-once')"
    )


def _checksum() -> str:
    """A sum over every numeric and boolean column of orderbook.processed."""
    terms = []
    for name, sql_type in schema_columns(Topic.PROCESSED):
        if sql_type in ("DOUBLE", "BIGINT", "INT"):
            terms.append(f"COALESCE(CAST(`{name}` AS DOUBLE), 0)")
        elif sql_type == "BOOLEAN":
            terms.append(f"CASE WHEN `{name}` THEN 1 ELSE 0 END")
    return " + ".join(terms)


def run_variant(
    variant: str,
    kafka: KafkaSettings,
    flink: FlinkSettings,
    records: int,
    steady_from: float = 0.5,
    parallelism: int = 1,
) -> float:
    t_env = table_environment(flink, name=f"bench-{variant}", parallelism=parallelism)
    filesystem_checkpoints(t_env)
    t_env.execute_sql(
        kafka_source_ddl(
            "source",
            Topic.RAW,
            kafka=kafka,
            flink=flink,
            group_id=f"bench-{uuid.uuid4().hex}",
        )
    )
    raw = t_env.from_path("source")
    out_topic = f"{kafka.topic_prefix}out-{variant}-{uuid.uuid4().hex[:6]}"
    if variant == "full":
        # orderbook.processed under a prefix of its own per run (--repeat: each run counts its own)
        sink_kafka = kafka.model_copy(update={"topic_prefix": f"{kafka.topic_prefix}{uuid.uuid4().hex[:6]}."})
        out_topic = topic_name(sink_kafka, Topic.PROCESSED)
        create_topics(kafka, [out_topic])
        # the deployed producer settings (OBM_METRICS_KAFKA_*), as flink_jobs/pipelines.py passes them
        t_env.execute_sql(
            kafka_sink_ddl(
                "sink",
                Topic.PROCESSED,
                kafka=sink_kafka,
                flink=flink,
                producer=MetricsJobSettings(),
                job="metrics",
            )
        )
        output = query(
            metrics_table(raw, MetricsJobSettings()),
            f"SELECT {sink_select_list(Topic.PROCESSED)} FROM {{src}}",
        )
    else:
        create_topics(kafka, [out_topic])
        t_env.execute_sql(_small_sink_ddl("sink", out_topic, kafka))
        if variant == "decode":
            arrays = " + ".join(
                f"CARDINALITY(`{a}`)" for a in ("bid_prices", "bid_sizes", "ask_prices", "ask_sizes")
            )
            sql = f"SELECT `exchange` || ':' || `symbol`, sequence_id, CAST({arrays} AS DOUBLE) FROM {{src}}"
            output = query(raw, sql)
        else:
            output = query(
                metrics_table(raw, MetricsJobSettings()),
                f"SELECT `{KEY_COLUMN}`, sequence_id, {_checksum()} FROM {{src}}",
            )
    t_env.create_temporary_view("job_output", output)
    cpu_before = job_jvm_cpu_s()
    result = t_env.execute_sql("INSERT INTO `sink` SELECT * FROM `job_output`")
    try:
        progress = output_progress(kafka, out_topic, records, timeout_s=900)
        cpu_us = (job_jvm_cpu_s() - cpu_before) / records * 1e6
        print(f"{variant:>7}: job JVM CPU {cpu_us:.1f} µs per update (start-up included)", flush=True)
    finally:
        client = result.get_job_client()
        if client is not None:
            client.cancel().result()
    rate, cpu = steady_state(progress, records, first=steady_from)
    busy = sorted(((us, name) for name, us in cpu.items() if us >= 0.5), reverse=True)
    print(f"{variant:>7}: CPU µs per update in steady state, by thread:", flush=True)
    for us, name in busy[:8]:
        print(f"           {us:6.1f}  {name}", flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument(
        "--key-interval-ms", type=int, default=100, help="event time between updates of one symbol"
    )
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--repeat", type=int, default=1, help="run the variants this many times over the same records"
    )
    parser.add_argument(
        "--steady-from", type=float, default=0.5, help="fraction of the output where steady state begins"
    )
    parser.add_argument(
        "--parallelism",
        default="1",
        help="job parallelism, or several alternated in one run (e.g. 1,2: the ratio on this machine)",
    )
    args = parser.parse_args()
    parallelisms = [int(p) for p in args.parallelism.split(",")]
    flink = FlinkSettings(checkpoint_interval_ms=10_000)
    runs: dict[str, list[float]] = {}
    with broker() as kafka:
        raw_topic = topic_name(kafka, Topic.RAW)
        create_topics(kafka, [raw_topic])
        started = time.monotonic()
        produce_bulk(
            kafka,
            raw_topic,
            args.records,
            int(time.time() * 1000) - 3_600_000,
            args.symbols,
            args.key_interval_ms,
        )
        span_s = args.records // args.symbols * args.key_interval_ms / 1000
        print(
            f"preloaded {args.records:,} raw records ({args.symbols} symbols, one update per "
            f"{args.key_interval_ms} ms each, {span_s:.0f} s of event time) in {time.monotonic() - started:.1f} s;"
            f" {load_average()}"
        )
        for _ in range(args.repeat):
            for parallelism in parallelisms:
                for variant in args.variants.split(","):
                    rate = run_variant(variant, kafka, flink, args.records, args.steady_from, parallelism)
                    label = variant if len(parallelisms) == 1 else f"{variant}@p{parallelism}"
                    runs.setdefault(label, []).append(rate)
                    print(
                        f"{label:>7}: {rate:>9,.0f} updates/s  ({1e6 / rate:.1f} µs each); {load_average()}",
                        flush=True,
                    )
    rates = {v: statistics.median(r) for v, r in runs.items()}
    for variant in args.variants.split(",") if len(parallelisms) > 1 else []:
        base = rates[f"{variant}@p{parallelisms[0]}"]
        ratios = ", ".join(
            f"p{p}/p{parallelisms[0]} {rates[f'{variant}@p{p}'] / base:.2f}" for p in parallelisms[1:]
        )
        print(f"{variant:>7}: {ratios}")
    if args.repeat > 1:
        for variant, values in runs.items():
            listed = ", ".join(f"{r:,.0f}" for r in values)
            print(f"{variant:>7}: median {rates[variant]:,.0f} updates/s of {listed}")
    if set(VARIANTS) <= set(rates):
        d, s, f = (1e6 / rates[v] for v in VARIANTS)
        print(
            f"cost per update: source decode {d:.1f} µs, metric SQL {s - d:.1f} µs, sink encode+produce {f - s:.1f} µs"
        )


if __name__ == "__main__":
    main()
