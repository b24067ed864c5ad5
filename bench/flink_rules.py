"""The rules job (flink_jobs/user_rules.py) from Kafka to Kafka on one slot, as deployed
(pipelines.build_pipeline, live rules from the rules.changes topic), in a local mini-cluster:

1. throughput: updates/s per slot with --rules rules live (default 100, every one covering every
   book, so each update is evaluated against all of them: the worst case), over a preloaded
   orderbook.processed topic (bench/flink_alerts.py's walk and method: progress from the source
   offsets committed on each checkpoint, steady state between 50% and 95% of the input);
2. pickup: with the job still running, --changes times a new rule is published to rules.changes
   (acknowledged by the broker: what the store does after its PostgreSQL commit) while probe
   records of a book the rule covers, event time = now, go to orderbook.processed every 50 ms from
   1 s before the publish. Two figures per change, after the publish: the event time of the first
   probe the job evaluated with the rule (the alert's window_start: when the change took effect,
   less the probe's transit to the operator), and when the alert was read, an upper bound that
   includes the exactly-once sink's commit on the next checkpoint (every second here).
Run: .venv/bin/python -m bench.flink_rules"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid

from confluent_kafka import Consumer, Producer

from bench.flink_alerts import committed_progress, processed_walk, produce_processed
from bench.flink_harness import broker, create_topics, filesystem_checkpoints, load_average, steady_state
from config import AlertSettings, FlinkSettings, KafkaSettings, MetricsJobSettings
from config.clients import consumer_config, producer_config
from flink_jobs.connectors import topic_name
from flink_jobs.user_rules import rule_id_of
from rules.publish import KafkaPublisher
from schemas import Topic, record_key

METRICS = ("imbalance_5", "spread_bps", "imbalance_velocity", "imbalance_1")
CONDITIONS = (">", "<", "crosses above", "crosses below", "abs >")


def rule_record(
    rule_id: int, metric: str, scope: str, condition: str, threshold: float, **more: object
) -> dict:
    return {
        "schema_version": 1, "rule_id": rule_id, "version": 1, "name": f"bench {rule_id}", "metric": metric,
        "scope": scope, "condition": condition, "threshold": threshold, "min_duration_ms": 500,
        "cooldown_ms": 10_000, "severity": "medium", "enabled": True, "deleted": False, "changed_by": "bench",
        "changed_at": int(time.time() * 1000), **more,
    }  # fmt: skip


def bench_rules(n: int) -> list[dict]:
    """n rules over the walk's metrics, every one covering every book; thresholds that fire rarely."""
    out = []
    for k in range(n):
        metric, condition = METRICS[k % len(METRICS)], CONDITIONS[(k // len(METRICS)) % len(CONDITIONS)]
        threshold = {"spread_bps": 5.0 + k % 3, "imbalance_velocity": 0.05}.get(metric, 0.6 + (k % 4) / 10)
        if condition in ("<", "crosses below"):
            threshold = -threshold
        out.append(rule_record(k + 1, metric, "all" if k % 2 else "binance:*", condition, threshold))
    return out


def _probe(symbol: str, seq: int) -> dict:
    t = int(time.time() * 1000)
    return {
        "schema_version": 1, "exchange": "probe", "market": "spot", "symbol": symbol, "event_time": t,
        "receive_time_ns": t * 1_000_000, "sequence_id": seq, "mid": 1.0, "spread": None, "spread_bps": None,
        "imbalance_1": None, "imbalance_5": None, "imbalance_10": None, "imbalance_20": None,
    }  # fmt: skip


def measure_pickup(kafka: KafkaSettings, changes: int, first_id: int) -> list[tuple[float, float]]:
    """Per change (seconds after the publish was acknowledged): the event time of the first probe
    record the job evaluated with the rule, and when its alert was read (after the sink's commit)."""
    publisher = KafkaPublisher(kafka)
    producer = Producer(producer_config(kafka, {"linger.ms": 0}))
    alerts = Consumer(consumer_config(kafka, f"bench-{uuid.uuid4().hex}", {"auto.offset.reset": "latest"}))
    alerts.subscribe([topic_name(kafka, Topic.ALERTS)])
    alerts.poll(2.0)  # joined, at the end
    out = []
    seq = 0
    try:
        for k in range(changes):
            rule_id, symbol = first_id + k, f"PROBE{k}"
            found, published_ms = None, None
            started = time.monotonic()
            while found is None and time.monotonic() - started < 120:
                if published_ms is None and time.monotonic() - started > 1.0:  # probes flow before the change
                    publisher.publish(
                        [rule_record(rule_id, "mid", f"probe:{symbol}", ">", 0.0, min_duration_ms=0)]
                    )
                    published_ms = time.time() * 1000
                producer.produce(
                    topic_name(kafka, Topic.PROCESSED), json.dumps(_probe(symbol, seq)).encode(),
                    key=record_key("probe", symbol),
                )  # fmt: skip
                producer.poll(0)
                seq += 1
                end = time.monotonic() + 0.05
                while found is None and (left := end - time.monotonic()) > 0:
                    msg = alerts.poll(left)
                    if msg is not None and not msg.error() and msg.value() is not None:
                        alert = json.loads(msg.value() or b"{}")
                        if rule_id_of(alert["alert_id"]) == rule_id:
                            found = alert
            if found is None or published_ms is None:
                raise TimeoutError(f"rule {rule_id} never fired")
            out.append(
                ((found["window_start"] - published_ms) / 1000, (time.time() * 1000 - published_ms) / 1000)
            )
            print(
                f"change {k + 1}: evaluated from {out[-1][0]:.2f} s, alert read {out[-1][1]:.2f} s after the publish",
                flush=True,
            )
    finally:
        alerts.close()
        producer.flush(10)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--changes", type=int, default=5)
    args = parser.parse_args()
    from flink_jobs.pipelines import JobSpec, build_pipeline

    flink = FlinkSettings(checkpoint_interval_ms=1_000)
    with broker() as kafka:
        processed = topic_name(kafka, Topic.PROCESSED)
        create_topics(kafka, [processed, topic_name(kafka, Topic.ALERTS), topic_name(kafka, Topic.DLQ)])
        create_topics(
            kafka, [topic_name(kafka, Topic.RULES)], partitions=1, config={"cleanup.policy": "compact"}
        )
        KafkaPublisher(kafka).publish(bench_rules(args.rules))
        start_ms = int(time.time() * 1000) - 3_600_000
        n = produce_processed(kafka, processed, processed_walk(args.records, args.symbols, start_ms=start_ms))
        print(
            f"preloaded {n:,} processed records ({args.symbols} symbols), {args.rules} rules; {load_average()}"
        )
        spec = JobSpec(job="rules", flink=flink, kafka=kafka, metrics=MetricsJobSettings(), alerts=AlertSettings(),
                       from_timestamp_ms=0, parallelism=1)  # fmt: skip
        t_env, statement = build_pipeline(spec)
        filesystem_checkpoints(t_env)
        result = t_env.execute_sql(statement)
        try:
            progress = committed_progress(kafka, f"obm-flink-{spec.job}", processed, n, timeout_s=3_600)
            rate, cpu = steady_state(progress, n)
            busy = sorted(((us, name) for name, us in cpu.items() if us >= 0.3), reverse=True)[:5]
            print(
                f"throughput with {args.rules} rules: {rate:,.0f} updates/s ({1e6 / rate:.1f} µs each); CPU µs/update: "
                + "; ".join(f"{name} {us:.1f}" for us, name in busy)
                + f"; {load_average()}",
                flush=True,
            )
            pickup = measure_pickup(kafka, args.changes, args.rules + 1)
            evaluated, read = [p[0] for p in pickup], [p[1] for p in pickup]
            print(
                f"pickup over {len(pickup)} changes: evaluated from median {statistics.median(evaluated):.2f} s "
                f"(max {max(evaluated):.2f} s), alert read median {statistics.median(read):.2f} s "
                f"(max {max(read):.2f} s) after the publish; {load_average()}"
            )
        finally:
            client = result.get_job_client()
            if client is not None:
                client.cancel().result()


if __name__ == "__main__":
    main()
