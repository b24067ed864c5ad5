"""Throughput of the pairs job from Kafka to Kafka on one slot (target: >= 1,000 pairs updated
every second, i.e. >= 1,000 pair records per second kept up with), with the method of
bench/flink_trade_bars.py: a preloaded trades.bars topic, the job's logic (registry.JOBS' pairs
entry: flink_jobs/pairs.pairs_table) in the local mini-cluster at parallelism 1, steady-state
rates from the output's end offsets (not read).

Input: `--symbols` instruments with a 1 s bar every second for `--seconds` seconds, and
`--pairs` pairs among them (each symbol with the next ones in turn), so every pair has a record
every second once its window has min_points. The rate is measured only over the part of the
output where every window is full (`--window-s` points) and the ADF runs at its cadence
(`--adf-every-s`, over `--adf-points` points): the costly steady state, not the filling.
A bar per symbol 10 s after the last closes the input. Besides the rate: the CPU per pair record
of the JVM's busiest threads in that steady state, and of the Python worker (the pairs
operator's statistics and state; in the local mini-cluster, threads of this process)
over the whole run.
That is `--mode backlog` (the default): a preloaded topic read at once is the job's catch-up
path (after an outage or a restart), where the source reads some partitions ahead of others.
`--mode realtime` (bench/flink_pairs_realtime.py) is the issue's steady state: the bars come at
real-time pace, every pair is updated every second, and it says whether the job keeps up (the
output's lag behind its second, over the seconds with full windows) and at what CPU per record.
Run: .venv/bin/python -m bench.flink_pairs [--mode realtime]"""

from __future__ import annotations

import argparse
import math
import os
import random
import time
import uuid
from typing import Any

import orjson

from bench.flink_harness import (
    broker,
    create_topics,
    filesystem_checkpoints,
    job_jvm_cpu_s,
    kafka_producer,
    load_average,
    output_progress,
    steady_state,
    symbols,
)
from bench.flink_pairs_realtime import run_realtime
from config import FlinkSettings, KafkaSettings, MetricsJobSettings, PairSettings
from flink_jobs.connectors import kafka_sink_ddl, kafka_source_ddl, sink_select_list, topic_name
from flink_jobs.environment import stream_table_environment
from flink_jobs.pairs import CALL_LOG_ENV, pairs_table
from flink_jobs.sql_building import query
from schemas import Topic


def pair_list(names: list[str], count: int) -> list[str]:
    """`count` distinct pairs: symbol i with i+1, then each with i+2, ... (mod the symbols)."""
    pairs: list[str] = []
    step = 1
    while len(pairs) < count:
        for i, y in enumerate(names):
            if len(pairs) == count:
                break
            pairs.append(f"binance:{y}/binance:{names[(i + step) % len(names)]}")
        step += 1
    if step > len(names):
        raise ValueError("more pairs than the symbols make")
    return pairs


def python_worker_cpu_s() -> float:
    """CPU seconds (user + system) of this process: in the local mini-cluster PyFlink runs the
    Python worker in loopback mode, as threads of the process that started the job (the JVM is a
    child process and does not count here); while the job runs this process only polls offsets."""
    times = os.times()
    return times.user + times.system


def produce_bars(kafka: KafkaSettings, topic: str, names: list[str], seconds: int, start_ms: int) -> None:
    """A 1 s bar per symbol and second (random walks in log price), then one per symbol 10 s after
    the last: it takes the watermark past the fill tail."""
    rng, producer = random.Random(15), kafka_producer(kafka, 20)
    logs = {s: math.log(100.0 * (i + 1)) for i, s in enumerate(names)}

    def send(symbol: str, t: int) -> None:
        close = f"{math.exp(logs[symbol]):.4f}"
        rec = {
            "schema_version": 1, "exchange": "binance", "market": "spot", "symbol": symbol, "interval": "1s",
            "window_start": t, "window_end": t + 1000, "open": close, "high": close, "low": close, "close": close,
            "volume": "1.000000000", "quote_volume": close, "vwap": float(close), "trade_count": 1,
            "buy_volume": "1.000000000", "sell_volume": "0.000000000", "volume_delta": "1.000000000",
        }  # fmt: skip
        while True:
            try:
                producer.produce(topic, orjson.dumps(rec), key=f"binance:{symbol}".encode())
                return
            except BufferError:
                producer.poll(0.05)

    for k in range(seconds):
        market = rng.gauss(0.0, 2e-4)  # a common move: the pairs are correlated
        for symbol in names:
            logs[symbol] += market + rng.gauss(0.0, 1e-4)
            send(symbol, start_ms + k * 1000)
        producer.poll(0)
    for symbol in names:
        send(symbol, start_ms + (seconds + 10) * 1000)
    assert producer.flush(120) == 0


def start_job(kafka: KafkaSettings, flink: FlinkSettings, settings: PairSettings) -> tuple[Any, str]:
    """The job (registry.JOBS' logic) from trades.bars to a new output topic: (its TableResult,
    the output topic)."""
    t_env = stream_table_environment(flink, name="bench-pairs", parallelism=1)
    filesystem_checkpoints(t_env)
    t_env.execute_sql(
        kafka_source_ddl(
            "source", Topic.TRADE_BARS, kafka=kafka, flink=flink, group_id=f"bench-{uuid.uuid4().hex}"
        )
    )
    sink_kafka = kafka.model_copy(update={"topic_prefix": f"{kafka.topic_prefix}{uuid.uuid4().hex[:6]}."})
    out_topic = topic_name(sink_kafka, Topic.PAIRS)
    create_topics(kafka, [out_topic])
    t_env.execute_sql(
        kafka_sink_ddl(
            "sink", Topic.PAIRS, kafka=sink_kafka, flink=flink, producer=MetricsJobSettings(), job="bench"
        )
    )
    output = pairs_table(t_env.from_path("source"), settings)  # registry.JOBS' logic
    t_env.create_temporary_view(
        "job_output", query(output, f"SELECT {sink_select_list(Topic.PAIRS)} FROM {{src}}")
    )
    return t_env.execute_sql("INSERT INTO `sink` SELECT * FROM `job_output`"), out_topic


def cancel(result: Any) -> None:
    client = result.get_job_client()
    if client is not None:
        client.cancel().result()


def run(
    kafka: KafkaSettings, flink: FlinkSettings, settings: PairSettings, records: int, first: float
) -> float:
    """Pair records per second in steady state (and the CPU per record, printed)."""
    result, out_topic = start_job(kafka, flink, settings)
    jvm_before, python_before = job_jvm_cpu_s(), python_worker_cpu_s()
    try:
        progress = output_progress(kafka, out_topic, records, timeout_s=3600, stall_s=180)
        python_us, jvm_us = (
            (python_worker_cpu_s() - python_before) / records * 1e6,
            (job_jvm_cpu_s() - jvm_before) / records * 1e6,
        )
    finally:
        cancel(result)
    rate, cpu = steady_state(progress, records, first=first)
    print(
        f"CPU per pair record over the whole run (start-up included): Python worker {python_us:.0f} µs, "
        f"job JVM {jvm_us:.0f} µs",
        flush=True,
    )
    busy = sorted(((us, name) for name, us in cpu.items() if us >= 1.0), reverse=True)
    print("JVM CPU µs per pair record with full windows, by thread: "
          + ", ".join(f"{name} {us:.1f}" for us, name in busy[:6]), flush=True)  # fmt: skip
    return rate


def realtime(
    kafka: KafkaSettings, flink: FlinkSettings, settings: PairSettings, names: list[str], seconds: int
) -> None:
    """--mode realtime (bench/flink_pairs_realtime.py): the job started on an empty topic, then
    `seconds` seconds of bars at real-time pace."""
    topic = topic_name(kafka, Topic.TRADE_BARS)
    result, out_topic = start_job(kafka, flink, settings)
    try:
        client = result.get_job_client()
        while (status := client.get_job_status().result().name) != "RUNNING":
            if status in ("FAILED", "CANCELED", "FINISHED"):
                raise RuntimeError(f"the job is {status}")
            time.sleep(0.5)
        time.sleep(10)  # the source's first fetches and the Python worker's start
        full_from = settings.window_s
        lines, python_cores, jvm_cores = run_realtime(
            kafka, topic, out_topic, names, seconds, full_from, len(settings.pairs)
        )
    finally:
        cancel(result)
    pairs = len(settings.pairs)
    for line in lines:
        print(line, flush=True)
    print(
        f"CPU over the measured seconds ({pairs:,} pair records a second): Python worker {python_cores:.2f} core "
        f"({python_cores / pairs * 1e6:.0f} µs per pair record), job JVM {jvm_cores:.2f} core "
        f"({jvm_cores / pairs * 1e6:.0f} µs); {load_average()}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=480)
    parser.add_argument("--window-s", type=int, default=300)
    parser.add_argument("--min-points", type=int, default=30)
    parser.add_argument("--adf-every-s", type=int, default=10)
    parser.add_argument("--adf-points", type=int, default=300)
    parser.add_argument(
        "--mode", choices=("backlog", "realtime"), default="backlog",
        help="backlog: a preloaded topic drained (the catch-up path); realtime: bars at real-time pace, "
        "--seconds of them (the window fills first: measured from --window-s on)",
    )  # fmt: skip
    parser.add_argument(
        "--call-log", help="a file the pairs operator appends a line to per call and late bar"
    )
    args = parser.parse_args()
    if args.call_log:
        os.environ[CALL_LOG_ENV] = args.call_log
    names = symbols(args.symbols)
    settings = PairSettings(
        pairs=pair_list(names, args.pairs), window_s=args.window_s, min_points=args.min_points,
        fill_max_age_ms=5_000, adf_every_s=args.adf_every_s, adf_points=args.adf_points,
    )  # fmt: skip
    # Every pair has a record from its min_points-th second to the last, and the closing bars
    # carry each fill forward up to fill_max_age_ms more seconds (5 records per pair).
    per_pair = args.seconds - args.min_points + 1 + settings.fill_max_age_ms // 1000
    records = args.pairs * per_pair
    full_from = (args.window_s - args.min_points + 1) / per_pair  # every window full from here on
    flink = FlinkSettings(checkpoint_interval_ms=10_000)
    with broker() as kafka:
        topic = topic_name(kafka, Topic.TRADE_BARS)
        create_topics(kafka, [topic])
        if args.mode == "realtime":
            print(
                f"realtime: {args.symbols} symbols x {args.seconds} s of 1 s bars at real-time pace, {args.pairs:,} "
                f"pairs, window {args.window_s} s, ADF every {args.adf_every_s} s over {args.adf_points} points; "
                f"{load_average()}",
                flush=True,
            )
            realtime(kafka, flink, settings, names, args.seconds)
            return
        started = time.monotonic()
        produce_bars(kafka, topic, names, args.seconds, int(time.time() * 1000) - 7_200_000)
        print(
            f"preloaded {args.symbols * args.seconds:,} 1 s bars ({args.symbols} symbols x {args.seconds} s) for "
            f"{args.pairs:,} pairs, window {args.window_s} s, ADF every {args.adf_every_s} s over {args.adf_points} "
            f"points, in {time.monotonic() - started:.1f} s; {load_average()}",
            flush=True,
        )
        rate = run(kafka, flink, settings, records, max(full_from, 0.3))
        print(
            f"pairs: {rate:,.0f} pair records/s with full windows ({rate / args.pairs:.2f} s of "
            f"{args.pairs:,} pairs per wall second; {1e6 / rate:.0f} µs each); {load_average()}",
            flush=True,
        )


if __name__ == "__main__":
    main()
