"""The alerts job live at a paced rate: its CPU and how far it stays behind (issue 21: "in the live
stack at 15k updates/s the alerts job under 30% of one core, with no start-up lag beyond a few
seconds").

Why this and not the whole stack: on this 2-core machine the simulator alone needs 1.5-2 cores to
offer 15k book updates/s (docs/benchmarks.md, issue 21's live figures), so the stack cannot be fed
at that rate here. This runs the alerts job as deployed (flink_jobs/pipelines.build_pipeline, the
default rule profile and checkpoint interval, exactly-once sink) in a local mini-cluster, started on
an empty orderbook.processed topic, and writes bench/flink_alerts.processed_walk records into that
topic at `--rate` per second with event times on the wall clock, as the metrics job would. It
samples every second: records written, the offsets the job's source has committed (on each
checkpoint), and the CPU of every thread of the job's JVM (the mini-cluster: JobManager parts
included, so an upper bound of the job's own CPU). From the window after `--warmup-s`:
- the job's CPU in cores and µs per update;
- its lag: records written minus committed, in records and in seconds at the rate (the commit comes
  with the checkpoint, so a job that keeps up shows up to one checkpoint interval of lag);
and the start-up: seconds from the first record written until the job has committed and its lag
first falls within one checkpoint interval and a second (the JVM's and the job's start included).
Run: .venv/bin/python -m bench.flink_alerts_live --rate 15000 --symbols 150 --seconds 180"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import orjson
from confluent_kafka import Consumer, KafkaException, TopicPartition

from bench.flink_alerts import processed_walk
from bench.flink_harness import (
    broker,
    cpu_by_thread,
    create_topics,
    filesystem_checkpoints,
    kafka_producer,
    load_average,
)
from config import AlertSettings, FlinkSettings, KafkaSettings, MetricsJobSettings
from config.clients import client_config
from flink_jobs.connectors import topic_name
from schemas import Topic, record_key


class PacedWriter(threading.Thread):
    """Writes the walk at `rate` records/s, each record's event time its due wall time."""

    def __init__(self, kafka: KafkaSettings, topic: str, rate: float, n_symbols: int, seconds: float) -> None:
        super().__init__(daemon=True)
        self.kafka, self.topic, self.rate, self.n_symbols, self.seconds = (
            kafka,
            topic,
            rate,
            n_symbols,
            seconds,
        )
        self.written = 0
        self.started_at = 0.0

    def run(self) -> None:
        producer = kafka_producer(self.kafka, 5)
        count = int(self.rate * self.seconds)
        interval_ms = max(1, round(self.n_symbols * 1000 / self.rate))
        self.started_at = time.time()
        start_ms = int(self.started_at * 1000)
        for n, rec in enumerate(
            processed_walk(count, self.n_symbols, start_ms=start_ms, interval_ms=interval_ms)
        ):
            ahead = rec["event_time"] / 1000 - time.time()
            if ahead > 0.002:
                time.sleep(ahead)
                producer.poll(0)
            key = record_key(rec["exchange"], rec["symbol"]).encode()
            while True:
                try:
                    producer.produce(self.topic, orjson.dumps(rec), key=key)
                    break
                except BufferError:
                    producer.poll(0.05)
            self.written = n + 1
        assert producer.flush(60) == 0


def committed(consumer: Consumer, parts: list[TopicPartition]) -> int | None:
    try:
        return sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))
    except KafkaException:  # no commit yet (the group's coordinator not ready)
        return None


def run(
    kafka: KafkaSettings, rate: float, n_symbols: int, seconds: float, warmup_s: float, verbose: bool = False
) -> dict[str, float]:
    from flink_jobs.pipelines import JobSpec, build_pipeline

    flink = FlinkSettings()
    spec = JobSpec(
        job="alerts", flink=flink, kafka=kafka, metrics=MetricsJobSettings(), alerts=AlertSettings(),
        from_timestamp_ms=0, parallelism=1,
    )  # fmt: skip
    topic = topic_name(kafka, Topic.PROCESSED)
    t_env, statement = build_pipeline(spec)
    filesystem_checkpoints(t_env)  # as the deployed cluster (its state outgrows the JobManager's 5 MB)
    result = t_env.execute_sql(statement)
    writer = PacedWriter(kafka, topic, rate, n_symbols, seconds)
    writer.start()
    client = result.get_job_client()
    consumer = Consumer({**client_config(kafka), "group.id": f"obm-flink-{spec.job}"})
    parts = [
        TopicPartition(topic, p) for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions
    ]
    samples: list[tuple[float, int, int, float]] = []  # wall, written, committed, job JVM CPU s
    threads: list[tuple[float, dict[str, float]]] = []  # wall, CPU s by thread, once the window began
    try:
        while writer.is_alive():
            time.sleep(1.0)
            done = committed(consumer, parts)
            by_thread = {name: s for name, s in cpu_by_thread().items() if name != "broker"}
            samples.append(
                (time.time(), writer.written, done if done is not None else 0, sum(by_thread.values()))
            )
            status = str(client.get_job_status().result()) if client is not None else "?"
            if verbose:
                print(
                    f"{samples[-1][0] - writer.started_at:6.1f} s {status} written {samples[-1][1]} committed {samples[-1][2]}"
                )
            if status.endswith(("FAILED", "CANCELED", "FINISHED", "RESTARTING")):
                raise RuntimeError(f"the alerts job is {status} after {len(samples)} s")
            if samples[-1][0] - writer.started_at >= warmup_s:
                threads.append((samples[-1][0], by_thread))
    finally:
        if client is not None and not str(client.get_job_status().result()).endswith(("FAILED", "CANCELED")):
            client.cancel().result()
        consumer.close()
    out = summarize(samples, writer.started_at, rate, flink.checkpoint_interval_ms / 1000, warmup_s)
    (t0, first), (t1, last) = threads[0], threads[-1]
    cores = {name: (cpu - first.get(name, 0.0)) / (t1 - t0) for name, cpu in last.items()}
    for name, value in sorted(cores.items(), key=lambda kv: -kv[1])[:6]:
        out[f"thread {name}"] = value
    return out


def summarize(
    samples: list[tuple[float, int, int, float]],
    started_at: float,
    rate: float,
    checkpoint_s: float,
    warmup_s: float,
) -> dict[str, float]:
    window = [s for s in samples if s[0] - started_at >= warmup_s]
    if len(window) < 2:
        raise RuntimeError(f"only {len(window)} samples after the {warmup_s} s warm-up: run longer")
    first, last = window[0], window[-1]
    wall = last[0] - first[0]
    lags = [written - done for _, written, done, _ in window]
    keeping_up = (checkpoint_s + 1.0) * rate
    caught_up = next((s[0] - started_at for s in samples if s[2] and s[1] - s[2] <= keeping_up), float("nan"))
    return {
        "written_per_s": (last[1] - first[1]) / wall,
        "job_cores": (last[3] - first[3]) / wall,
        "job_us_per_update": (last[3] - first[3]) / max(1, last[1] - first[1]) * 1e6,
        "lag_p50_records": statistics.median(lags),
        "lag_max_records": max(lags),
        "lag_p50_s": statistics.median(lags) / rate,
        "lag_max_s": max(lags) / rate,
        "caught_up_after_s": caught_up,
        "window_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=15_000, help="updates/s written (default 15,000)")
    parser.add_argument("--symbols", type=int, default=150)
    parser.add_argument("--seconds", type=float, default=180, help="seconds of writing (default 180)")
    parser.add_argument(
        "--verbose", action="store_true", help="print the job status and offsets every second"
    )
    parser.add_argument("--warmup-s", type=float, default=60, help="left out of the window (JIT, start-up)")
    args = parser.parse_args()
    with broker() as kafka:
        create_topics(kafka, [topic_name(kafka, t) for t in (Topic.PROCESSED, Topic.ALERTS, Topic.DLQ)])
        print(
            f"writing {args.rate:,.0f} updates/s over {args.symbols} symbols for {args.seconds:.0f} s; {load_average()}"
        )
        out = run(kafka, args.rate, args.symbols, args.seconds, args.warmup_s, args.verbose)
    print(
        f"written {out['written_per_s']:,.0f}/s over {out['window_s']:.0f} s: alerts job JVM "
        f"{out['job_cores']:.3f} cores ({out['job_us_per_update']:.1f} µs/update); lag p50 "
        f"{out['lag_p50_records']:,.0f} records ({out['lag_p50_s']:.2f} s), max {out['lag_max_records']:,.0f} "
        f"({out['lag_max_s']:.2f} s); within one checkpoint + 1 s of the input {out['caught_up_after_s']:.1f} s "
        f"after the first record; {load_average()}"
    )
    print(
        "busiest threads of the job's JVM (cores): "
        + "; ".join(f"{k[7:]} {v:.3f}" for k, v in out.items() if k.startswith("thread "))
    )


if __name__ == "__main__":
    main()
