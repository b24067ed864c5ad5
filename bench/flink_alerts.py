"""Throughput of the alerts job from Kafka to Kafka on one slot (issue 21's target: >= 50k
updates/s), the job as deployed (flink_jobs/pipelines.build_pipeline: the contract-checking
source, the job's logic, the alerts sink and the DLQ) over a preloaded orderbook.processed topic,
in a local mini-cluster at parallelism 1, as bench/flink_metrics_throughput.py runs the metrics job.

The alerts are few, so progress is not read from the output: it is the source's offsets that the
job commits on each checkpoint (every second, unaligned: see run_job), which under backpressure
(the input is preloaded) advance at the rate the job processes. The rate is steady state (between 50% and 95% of the input, after start-up and JIT),
with the CPU per update of each thread of the job's JVM over the same span (the busiest thread
bounds what the slot can do, whatever else shares the machine).

`--profiles seed,adaptive` (the default) runs the job once per rule profile, in turn (the adaptive
one keeps three rolling distributions per key and scores every update against them);
`--off-each` adds one run per alert type with that type switched off (AlertRules' `off`): the
difference to the whole job is the type's cost. The job before issue 21 (SQL OVER windows,
MATCH_RECOGNIZE and a Python cooldown) is measured by running this file in a worktree of an
earlier commit (docs/benchmarks.md says which). Inputs: many symbols, one update per 100 ms each,
an imbalance, velocity and spread walk that crosses every threshold now and then (processed_walk,
which tests/flink/test_alerts_differential.py also compares with the reference).
Run: .venv/bin/python -m bench.flink_alerts"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from bench.flink_harness import (
    _descends_from_me,
    broker,
    cpu_by_thread,
    create_topics,
    filesystem_checkpoints,
    kafka_producer,
    load_average,
    steady_state,
    symbols,
)
from config import AlertSettings, FlinkSettings, KafkaSettings, MetricsJobSettings
from config.clients import client_config
from flink_jobs.connectors import topic_name
from schemas import Topic, record_key

START_MS = 1_723_161_240_000


def processed_walk(
    count: int, n_symbols: int, seed: int = 5, start_ms: int = START_MS, interval_ms: int = 100
) -> Iterator[dict]:
    """`count` orderbook.processed records: every symbol updates every `interval_ms` (Binance's
    100 ms by default), the symbols spread over the interval; per symbol an AR(1) imbalance walk (crosses ±0.5 and ±0.7 now and then),
    a velocity that is often above 0.05/s, the spread at 3x its mean for 0.1-2 s once in ~300
    updates (a widening confirmed when it lasts 1 s)."""
    rng = random.Random(seed)
    names = symbols(n_symbols)
    imb = dict.fromkeys(names, 0.0)
    wide = dict.fromkeys(names, 0)  # updates left at the wide spread
    for k in range(count):
        s = names[k % n_symbols]
        t = start_ms + (k // n_symbols) * interval_ms + (k % n_symbols) * interval_ms // n_symbols
        imb[s] = max(-1.0, min(1.0, 0.95 * imb[s] + rng.gauss(0, 0.12)))
        if wide[s] == 0 and rng.random() < 0.003:
            wide[s] = rng.randint(1, 20)
        spread = 6.0 if wide[s] else 2.0
        wide[s] = max(0, wide[s] - 1)
        yield {
            "schema_version": 1, "exchange": "binance", "market": "spot", "symbol": s, "event_time": t,
            "receive_time_ns": t * 1_000_000, "sequence_id": k, "mid": 100.0, "spread": spread / 1e4 * 100,
            "spread_bps": spread, "spread_bps_mean": 2.05, "imbalance_1": round(imb[s], 4),
            "imbalance_5": round(imb[s], 4), "imbalance_10": round(imb[s], 4), "imbalance_20": round(imb[s], 4),
            "imbalance_velocity": rng.choice([None, 0.0, 0.01, 0.02, 0.08]),
            "depth_bid_10bps": 400.0, "depth_ask_10bps": 400.0,  # 80,000 within 10 bps: past the adaptive depth gate
        }  # fmt: skip


def produce_processed(kafka: KafkaSettings, topic: str, records: Iterator[dict]) -> int:
    producer = kafka_producer(kafka, 20)
    n = 0
    for n, rec in enumerate(records, start=1):
        key = record_key(rec["exchange"], rec["symbol"]).encode()
        while True:
            try:
                producer.produce(topic, orjson.dumps(rec), key=key)
                break
            except BufferError:
                producer.poll(0.05)
        if n % 10_000 == 0:
            producer.poll(0)
    assert producer.flush(120) == 0
    return n


def python_workers_cpu_s() -> float:
    """CPU seconds of the PyFlink Python workers under this process (the SQL job before issue 21
    ran its cooldown in them; cpu_by_thread sees only the JVMs)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in (d for d in os.listdir("/proc") if d.isdigit()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if b"fn_execution" in cmdline and _descends_from_me(int(pid)):
            total += (int(stat[11]) + int(stat[12])) / tick
    return total


def _cpu() -> dict[str, float]:
    return cpu_by_thread() | {"python workers": python_workers_cpu_s()}


def _committed(consumer: Consumer, parts: list[TopicPartition]) -> int:
    return sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))


def committed_progress(
    kafka: KafkaSettings, group: str, topic: str, count: int, timeout_s: float, stall_s: float = 120.0
) -> list[tuple[float, int, dict[str, float]]]:
    """(wall time s, offsets committed by `group` on `topic`, CPU s by thread and of the Python workers) every 0.25 s until
    all `count` are committed. A job that stops short for `stall_s` fails the bench."""
    consumer = Consumer({**client_config(kafka), "group.id": group})
    try:
        parts = [
            TopicPartition(topic, p) for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ]
        progress: list[tuple[float, int, dict[str, float]]] = []
        deadline = time.monotonic() + timeout_s
        last_change = time.monotonic()
        while not progress or progress[-1][1] < count:
            done = progress[-1][1] if progress else 0
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f"{topic}: {done} of {count} updates committed")
            if done and now - last_change > stall_s:
                raise RuntimeError(f"{topic}: stopped at {done} of {count} updates for {stall_s:.0f} s")
            try:
                total = _committed(consumer, parts)
            except KafkaException:  # the group's coordinator not ready yet (first commit): ask again
                total = done
            if total != done:
                last_change = now
            progress.append((time.time(), total, _cpu()))
            time.sleep(0.25)
        return progress
    finally:
        consumer.close()


def run_job(
    kafka: KafkaSettings, flink: FlinkSettings, count: int, off: tuple[str, ...], profile: str = "adaptive"
) -> tuple[float, dict[str, float]]:
    """Steady-state updates/s and CPU µs per update by thread of one run of the alerts job with
    the rule profile `profile` (AlertSettings.profile)."""
    from flink_jobs import registry
    from flink_jobs.pipelines import JobSpec, build_pipeline

    spec = JobSpec(
        job="alerts", flink=flink, kafka=kafka, metrics=MetricsJobSettings(), alerts=AlertSettings.model_validate({"profile": profile}),
        from_timestamp_ms=0, parallelism=1,
    )  # fmt: skip
    deployed = registry.JOBS["alerts"]
    if off:  # the deployed job with some alert types switched off (the SQL job had no such switch)
        from flink_jobs.alerts import alerts_table

        registry.JOBS["alerts"] = dataclasses.replace(
            deployed, logic=lambda source, s: alerts_table(source, s.alerts, s.metrics, off=off)
        )
    try:
        t_env, statement = build_pipeline(spec)
    finally:
        registry.JOBS["alerts"] = deployed
    filesystem_checkpoints(t_env)
    # Unaligned: a backpressured job (the input is preloaded) would hold an aligned barrier behind
    # its buffered updates, and the offsets would move in rare big steps. With the barrier
    # overtaking them, the committed offsets are the source's position, which under backpressure
    # advances at the rate the job processes.
    t_env.get_config().set("execution.checkpointing.unaligned.enabled", "true")
    result = t_env.execute_sql(statement)
    group = f"obm-flink-{spec.job}"  # the source's group id, as pipelines.build_pipeline names it
    try:
        progress = committed_progress(
            kafka, group, topic_name(kafka, Topic.PROCESSED), count, timeout_s=3_600
        )
    finally:
        client = result.get_job_client()
        if client is not None:
            client.cancel().result()
        admin = AdminClient(client_config(kafka))
        for attempt in range(20):  # the group is empty once the cancelled source has let go
            try:
                admin.delete_consumer_groups([group])[group].result()
                break
            except Exception:
                time.sleep(0.5 * (attempt + 1))
    return steady_state(progress, count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--off-each", action="store_true", help="also one run per alert type switched off")
    parser.add_argument(
        "--profiles", default="seed,adaptive", help="rule profiles to run, in turn (OBM_ALERT_PROFILE values)"
    )
    args = parser.parse_args()
    # checkpoints every second: the progress signal (committed offsets) moves with them
    flink = FlinkSettings(checkpoint_interval_ms=1_000)
    variants: list[tuple[str, ...]] = [()]
    if args.off_each:
        from flink_jobs.alerts import ALERT_TYPES

        variants += [(t,) for t in ALERT_TYPES]
    runs: dict[str, list[float]] = {}
    with broker() as kafka:
        topic = topic_name(kafka, Topic.PROCESSED)
        create_topics(kafka, [topic, topic_name(kafka, Topic.ALERTS), topic_name(kafka, Topic.DLQ)])
        started = time.monotonic()
        # event times an hour ago: inside the contract's age bound (the topic's retention)
        start_ms = int(time.time() * 1000) - 3_600_000
        n = produce_processed(kafka, topic, processed_walk(args.records, args.symbols, start_ms=start_ms))
        print(
            f"preloaded {n:,} processed records ({args.symbols} symbols) in {time.monotonic() - started:.1f} s; {load_average()}"
        )
        for _ in range(args.repeat):
            for profile, off in ((p, off) for p in args.profiles.split(",") for off in variants):
                label = f"{profile}: " + ("whole job" if not off else f"without {off[0]}")
                rate, cpu = run_job(kafka, flink, n, off, profile)
                runs.setdefault(label, []).append(rate)
                busy = sorted(((us, name) for name, us in cpu.items() if us >= 0.3), reverse=True)[:6]
                threads = "; ".join(f"{name} {us:.1f}" for us, name in busy)
                job = sum(us for name, us in cpu.items() if name != "broker")
                print(
                    f"{label:>28}: {rate:>9,.0f} updates/s ({1e6 / rate:.1f} µs each); CPU µs/update: job {job:.1f} (JVM and Python workers), {threads}; {load_average()}",
                    flush=True,
                )
    for label, rates in runs.items():
        print(
            f"{label:>28}: median {statistics.median(rates):,.0f} updates/s of {', '.join(f'{r:,.0f}' for r in rates)}"
        )


if __name__ == "__main__":
    main()
