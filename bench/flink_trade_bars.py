"""Throughput of the trade_bars job from Kafka to Kafka on one slot (target: >= 100k trades/s),
with the method of bench/flink_metrics_throughput.py: a preloaded trades.raw topic, the job in the
local mini-cluster at parallelism 1, steady-state rates from the output's end offsets (not read),
and the CPU per trade of each thread of the job's JVM. Two jobs over the same input:

  decode  trades.raw JSON -> rows, price and size cast to DECIMAL -> a tiny record per trade
  full    the job as deployed: too-late refusal, 1 s / 1 min / 5 min bars, bar_versions (the
          Python step per bar version) -> trades.bars

The full job writes a bar, not a trade, so its output counts bars: the trades are spread evenly
over event time, every symbol trading every `--trade-interval-ms`, so bars close at a steady pace
as the watermark moves through the input, and trades per second = bars per second x trades per
bar (both counted from the input). A last trade per symbol far ahead closes every bar of the
input. Run: .venv/bin/python -m bench.flink_trade_bars"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections import Counter

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
from config import FlinkSettings, KafkaSettings, MetricsJobSettings
from flink_jobs.connectors import KEY_COLUMN, kafka_sink_ddl, kafka_source_ddl, sink_select_list, topic_name
from flink_jobs.environment import stream_table_environment
from flink_jobs.sql_building import query
from flink_jobs.trade_bars import (
    ALLOWED_LATENESS_MS,
    PRICE_TYPE,
    SIZE_TYPE,
    TRADE_BAR_INTERVALS_MS,
    bar_versions,
    trade_bars_table,
)
from schemas import Topic

VARIANTS = ("decode", "full")


def produce_trades(
    kafka: KafkaSettings, topic: str, count: int, start_ms: int, n_symbols: int, interval_ms: int
) -> int:
    """`count` trades in event-time order, the symbols in turn; returns how many bars they make
    (every interval). Then one trade per symbol an hour ahead, which closes them all."""
    names, rng, producer = symbols(n_symbols), random.Random(15), kafka_producer(kafka, 20)
    bars: Counter[tuple[str, str, int]] = Counter()
    prices = {s: 100.0 * (i + 1) for i, s in enumerate(names)}
    t = start_ms

    def send(symbol: str, trade_id: int, t: int) -> None:
        prices[symbol] = max(0.01, prices[symbol] + rng.choice((-0.01, 0.0, 0.01)))
        rec = {
            "schema_version": 1, "exchange": "binance", "market": "spot", "symbol": symbol,
            "trade_id": str(trade_id), "price": f"{prices[symbol]:.2f}",
            "size": f"{rng.randint(1, 10**6) / 10**6:.8f}", "side": rng.choice(("buy", "sell")),
            "event_time": t, "receive_time_ns": t * 1_000_000,
        }  # fmt: skip
        while True:
            try:
                producer.produce(topic, orjson.dumps(rec), key=f"binance:{symbol}".encode())
                return
            except BufferError:
                producer.poll(0.05)

    for k in range(count):
        symbol = names[k % n_symbols]
        t = start_ms + (k // n_symbols) * interval_ms + (k % n_symbols) * interval_ms // n_symbols
        send(symbol, k, t)
        for label, size in TRADE_BAR_INTERVALS_MS.items():
            bars[(symbol, label, t - t % size)] += 1
        if k % 10_000 == 0:
            producer.poll(0)
    for symbol in names:
        send(symbol, count + 1, t + 3_600_000)
    assert producer.flush(120) == 0
    return len(bars)


def run_variant(
    variant: str, kafka: KafkaSettings, flink: FlinkSettings, trades: int, bars: int, steady_from: float
) -> float:
    """Trades per second in steady state."""
    t_env = stream_table_environment(flink, name=f"bench-trade-bars-{variant}", parallelism=1)
    filesystem_checkpoints(t_env)
    t_env.execute_sql(
        kafka_source_ddl(
            "source", Topic.TRADES, kafka=kafka, flink=flink, group_id=f"bench-{uuid.uuid4().hex}"
        )
    )
    source = t_env.from_path("source")
    sink_kafka = kafka.model_copy(update={"topic_prefix": f"{kafka.topic_prefix}{uuid.uuid4().hex[:6]}."})
    if variant == "full":
        out_topic, expected = topic_name(sink_kafka, Topic.TRADE_BARS), bars
        create_topics(kafka, [out_topic])
        t_env.execute_sql(
            kafka_sink_ddl(
                "sink",
                Topic.TRADE_BARS,
                kafka=sink_kafka,
                flink=flink,
                producer=MetricsJobSettings(),
                job="bench",
            )
        )
        bars_out = bar_versions(trade_bars_table(source, ALLOWED_LATENESS_MS))  # registry.JOBS' logic
        output = query(bars_out, f"SELECT {sink_select_list(Topic.TRADE_BARS)} FROM {{src}}")
    else:
        out_topic, expected = f"{sink_kafka.topic_prefix}decoded", trades
        create_topics(kafka, [out_topic])
        t_env.execute_sql(
            f"CREATE TEMPORARY TABLE `sink` (`{KEY_COLUMN}` STRING, x STRING) WITH ('connector' = 'kafka', "
            f"'topic' = '{out_topic}', 'properties.bootstrap.servers' = '{kafka.bootstrap_servers}', "
            "'properties.linger.ms' = '5', 'key.format' = 'raw', 'key.fields' = 'record_key', "
            "'value.format' = 'json', 'value.fields-include' = 'EXCEPT_KEY', "
            "'sink.delivery-guarantee' = 'at-least-once')"
        )
        output = query(
            source,
            f"SELECT `exchange` || ':' || `symbol`, CAST(CAST(`price` AS {PRICE_TYPE}) * CAST(`size` AS {SIZE_TYPE})"
            " AS STRING) FROM {src}",
        )
    t_env.create_temporary_view("job_output", output)
    cpu_before = job_jvm_cpu_s()
    result = t_env.execute_sql("INSERT INTO `sink` SELECT * FROM `job_output`")
    try:
        progress = output_progress(kafka, out_topic, expected, timeout_s=1800, stall_s=180)
        cpu_us = (job_jvm_cpu_s() - cpu_before) / trades * 1e6
        print(f"{variant:>7}: job JVM CPU {cpu_us:.1f} µs per trade (start-up included)", flush=True)
    finally:
        client = result.get_job_client()
        if client is not None:
            client.cancel().result()
    rate, cpu = steady_state(progress, expected, first=steady_from)
    per_output = trades / expected  # trades per output record
    busy = sorted(
        ((us / per_output, name) for name, us in cpu.items() if us / per_output >= 0.3), reverse=True
    )
    print(f"{variant:>7}: CPU µs per trade in steady state, by thread:", flush=True)
    for us, name in busy[:8]:
        print(f"           {us:6.2f}  {name}", flush=True)
    return rate * per_output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trades", type=int, default=2_000_000)
    parser.add_argument("--symbols", type=int, default=200)
    parser.add_argument(
        "--trade-interval-ms", type=int, default=20, help="event time between trades of a symbol"
    )
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--steady-from", type=float, default=0.3)
    args = parser.parse_args()
    flink = FlinkSettings(checkpoint_interval_ms=10_000)
    with broker() as kafka:
        topic = topic_name(kafka, Topic.TRADES)
        create_topics(kafka, [topic])
        started = time.monotonic()
        bars = produce_trades(
            kafka,
            topic,
            args.trades,
            int(time.time() * 1000) - 7_200_000,
            args.symbols,
            args.trade_interval_ms,
        )
        span_s = args.trades // args.symbols * args.trade_interval_ms / 1000
        print(
            f"preloaded {args.trades:,} trades ({args.symbols} symbols, one per {args.trade_interval_ms} ms each, "
            f"{span_s:.0f} s of event time, {bars:,} bars) in {time.monotonic() - started:.1f} s; {load_average()}",
            flush=True,
        )
        for variant in args.variants.split(","):
            rate = run_variant(variant, kafka, flink, args.trades, bars, args.steady_from)
            print(
                f"{variant:>7}: {rate:>9,.0f} trades/s  ({1e6 / rate:.2f} µs each); {load_average()}",
                flush=True,
            )


if __name__ == "__main__":
    main()
