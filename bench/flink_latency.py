"""Latency of the metrics job from a record on orderbook.raw to its record on orderbook.processed
(target: p99 < 100 ms at 5k updates/s), for several watermark out-of-orderness bounds, checkpoint
intervals and delivery guarantees of the job's sinks.

The job is assembled by flink_jobs.pipelines exactly as `flink run` does (Kafka source with
per-partition watermarks and idle timeout, the metric SQL, the Kafka sink with its linger), in a
local mini-cluster at parallelism 1. Records are produced at a steady rate (every symbol one
update per 100 ms, event time = now); each carries its send time in `receive_time_ns`, which the
job passes through. Two latencies per record: `append`, the broker's append time of the processed
record (the topic has LogAppendTime) minus the send time, so how long this process takes to read
it does not count; and `visible`, the time this process read it at read_committed (like every
consumer of the project) minus the send time. At exactly-once the two differ: the record is
appended at once but only visible when the transaction of its checkpoint commits, so `visible` is
what a consumer waits (on average about half a checkpoint interval more). Their difference per
record (`visible - append`: the wait for the commit, plus this reader's fetch) depends little on
how loaded the machine is, unlike the two latencies, which include the job's backlog. The job is first started
and primed (one record per symbol, until all of them come out), so the measurement does not
include the job's start-up backlog; then records are paced for the warm-up (JIT compilation) and
the measured seconds, and the run ends when every paced record has been read. The metrics job
emits each update on arrival (its keyed stage does not wait for the watermark), so the
out-of-orderness bound should not matter; --bounds checks that.
Run: .venv/bin/python -m bench.flink_latency [--bounds 2000,50] [--intervals 1000,5000,10000]
[--guarantees exactly-once,at-least-once]"""

from __future__ import annotations

import argparse
import threading
import time
import uuid

import numpy as np
import orjson
from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer

from bench.flink_harness import (
    BookWalk,
    broker,
    create_topics,
    filesystem_checkpoints,
    kafka_producer,
    load_average,
    symbols,
)
from config import AlertSettings, FlinkSettings, KafkaSettings, MetricsJobSettings
from config.clients import consumer_config
from flink_jobs.connectors import topic_name
from flink_jobs.pipelines import JobSpec, build_pipeline
from schemas import Topic


def read_latencies(
    kafka: KafkaSettings, topic: str, stop: threading.Event, out: list[tuple[int, float, float]]
) -> None:
    """(send time ns, append latency ms, visible latency ms) of every processed record read at
    read_committed (module docstring)."""
    consumer = Consumer(
        consumer_config(kafka, f"bench-{uuid.uuid4().hex}",
                        {"auto.offset.reset": "earliest", "fetch.wait.max.ms": 5, "fetch.min.bytes": 1})
    )  # fmt: skip
    consumer.subscribe([topic])
    try:
        while not stop.is_set():
            batch = consumer.consume(1000, timeout=0.1)
            read_ms = time.time_ns() / 1e6
            for msg in batch:
                value = msg.value()
                if msg.error() is None and value is not None:
                    kind, appended_ms = msg.timestamp()
                    if kind != TIMESTAMP_LOG_APPEND_TIME:
                        raise RuntimeError(
                            "the processed topic must have message.timestamp.type=LogAppendTime"
                        )
                    at = value.index(b'"receive_time_ns":') + 18  # no JSON parse: less CPU
                    sent = int(value[at : value.index(b",", at)])
                    out.append((sent, appended_ms - sent / 1e6, read_ms - sent / 1e6))
    finally:
        consumer.close()


EVENT_TIME_MARK, SEND_TIME_MARK = 1_111_111_111_111, 2_222_222_222_222_222_222


def prepare(walk: BookWalk, count: int, n_symbols: int) -> list[tuple[bytes, bytes]]:
    """(key, value) of `count` records, round-robin over the symbols, with marks where the event
    time and the send time go: built before pacing, so that sending one costs two byte
    replacements rather than building the book in Python (35 µs, most of this process's CPU)."""
    names = symbols(n_symbols)
    out = []
    for k in range(count):
        symbol = names[k % n_symbols]
        value = orjson.dumps(walk.record(symbol, EVENT_TIME_MARK, SEND_TIME_MARK))
        out.append((f"binance:{symbol}".encode(), value))
    return out


def produce_paced(kafka: KafkaSettings, topic: str, rate: float, records: list[tuple[bytes, bytes]]) -> int:
    """`records` at `rate` updates/s, in 10 ms ticks, event time = send time."""
    producer = kafka_producer(kafka, 1)
    per_tick, sent = rate / 100, 0
    event_mark, send_mark = str(EVENT_TIME_MARK).encode(), str(SEND_TIME_MARK).encode()
    start = time.monotonic()
    while sent < len(records):
        due = min(int((time.monotonic() - start) * 100 * per_tick) + 1, len(records))
        while sent < due:
            key, value = records[sent]
            now_ns = time.time_ns()
            value = value.replace(event_mark, str(now_ns // 1_000_000).encode(), 1)
            producer.produce(topic, value.replace(send_mark, str(now_ns).encode(), 1), key=key)
            sent += 1
        producer.poll(0)
        elapsed = time.monotonic() - start
        time.sleep(max(0.0, start + (int(elapsed * 100) + 1) / 100 - time.monotonic()))
    producer.flush(30)
    return sent


def prime(
    kafka: KafkaSettings, topic: str, walk: BookWalk, n_symbols: int, latencies: list, timeout_s: float = 180
) -> None:
    """One record per symbol, then wait until the job has put out all of them: it is running."""
    producer = kafka_producer(kafka, 1)
    for symbol in symbols(n_symbols):
        now_ns = time.time_ns()
        rec = walk.record(symbol, now_ns // 1_000_000, now_ns)
        producer.produce(topic, orjson.dumps(rec), key=f"binance:{symbol}".encode())
    producer.flush(30)
    deadline = time.monotonic() + timeout_s
    while len(latencies) < n_symbols:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the job put out {len(latencies)} of {n_symbols} priming records")
        time.sleep(0.2)


def wait_for_all(latencies: list, sent: int, timeout_s: float) -> None:
    """Until every paced record has been read (distinct send times): at exactly-once the last ones
    become visible only at the next checkpoint."""
    deadline = time.monotonic() + timeout_s
    while len({row[0] for row in latencies}) < sent:
        if time.monotonic() > deadline:
            raise TimeoutError(f"read {len({row[0] for row in latencies})} of {sent} paced records")
        time.sleep(0.5)


def percentiles(values: list[float]) -> str:
    if not values:
        return "no records"
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return f"p50 {p50:.0f}, p95 {p95:.0f}, p99 {p99:.0f}, max {max(values):.0f} ms"


def measure(bound_ms: int, interval_ms: int, guarantee: str, args: argparse.Namespace) -> None:
    with broker() as kafka:
        raw, processed = topic_name(kafka, Topic.RAW), topic_name(kafka, Topic.PROCESSED)
        create_topics(kafka, [raw])
        create_topics(kafka, [processed], config={"message.timestamp.type": "LogAppendTime"})
        flink = FlinkSettings(
            watermark_out_of_orderness_ms=bound_ms,
            buffer_timeout_ms=args.buffer_timeout_ms,
            checkpoint_interval_ms=interval_ms,
        ).model_copy(update={"delivery_guarantee": guarantee})
        spec = JobSpec(
            "metrics", flink, kafka, MetricsJobSettings(kafka_linger_ms=args.linger_ms), AlertSettings()
        )
        t_env, insert = build_pipeline(spec)
        filesystem_checkpoints(t_env)
        result = t_env.execute_sql(insert)
        latencies: list[tuple[int, float, float]] = []
        stop = threading.Event()
        reader = threading.Thread(
            target=read_latencies, args=(kafka, processed, stop, latencies), daemon=True
        )
        reader.start()
        try:
            walk = BookWalk(symbols(args.symbols))
            prime(kafka, raw, walk, args.symbols, latencies)
            paced = prepare(walk, int(args.rate * (args.warmup_s + args.seconds)), args.symbols)
            latencies.clear()
            started_ns = time.time_ns()
            sent = produce_paced(kafka, raw, args.rate, paced)
            wait_for_all(latencies, sent, timeout_s=3 * interval_ms / 1000 + 60)
        finally:
            stop.set()
            reader.join(10)
            client = result.get_job_client()
            if client is not None:
                client.cancel().result()
        warm = started_ns + int(args.warmup_s * 1e9)
        steady = [row for row in latencies if row[0] >= warm]
        print(
            f"bound {bound_ms} ms, checkpoints every {interval_ms} ms, {guarantee}: sent {sent:,} at "
            f"{args.rate:,.0f}/s, read {len(latencies):,} ({len({row[0] for row in latencies}):,} "
            f"distinct); after {args.warmup_s:.0f} s of warm-up, {args.seconds:.0f} s measured: "
            f"visible {percentiles([row[2] for row in steady])}; "
            f"append {percentiles([row[1] for row in steady])}; "
            f"visible - append {percentiles([row[2] - row[1] for row in steady])}; {load_average()}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bounds", default="2000", help="watermark out-of-orderness bounds to try (ms)")
    parser.add_argument("--rate", type=float, default=5_000)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--warmup-s", type=float, default=15, help="paced seconds before measuring")
    parser.add_argument("--symbols", type=int, default=500, help="each updates rate/symbols times a second")
    parser.add_argument("--buffer-timeout-ms", type=int, default=FlinkSettings().buffer_timeout_ms)
    parser.add_argument("--linger-ms", type=int, default=MetricsJobSettings().kafka_linger_ms)
    defaults = FlinkSettings()
    parser.add_argument(
        "--intervals", default=str(defaults.checkpoint_interval_ms), help="checkpoint intervals (ms)"
    )
    parser.add_argument("--guarantees", default=defaults.delivery_guarantee, help="of the job's sinks")
    args = parser.parse_args()
    for guarantee in args.guarantees.split(","):
        FlinkSettings(delivery_guarantee=guarantee)  # type: ignore[arg-type]  # refused here, not mid-run
    for bound in (int(b) for b in args.bounds.split(",")):
        for interval in (int(i) for i in args.intervals.split(",")):
            for guarantee in args.guarantees.split(","):
                measure(bound, interval, guarantee, args)


if __name__ == "__main__":
    main()
