"""Redis sink throughput. Target (issue 5): >= 100k writes/s.

"Writes" are the Redis commands the sink sends (SET, ZADD, ZREMRANGEBYSCORE, PEXPIRE, SADD, alert
scripts, heartbeat), all pipelined. 1 s bars are the honest load: every bar is written (2 commands:
clear its window, ZADD), where metrics and books collapse to one SET per symbol and batch.
Figures:
  1. write path: bars in memory through RedisSink.write_records in batches of 5,000;
  2. end to end: the bars pre-produced to Kafka, consumed by the sink's loop from an empty group.

Run: .venv/bin/python -m bench.sink_redis [--bars 200000]
"""

from __future__ import annotations

import argparse
import time

from bench._sink_harness import as_records, bar_values, kafka, produce, run_end_to_end, stack_dir
from config import RedisSettings
from obm.stack.health import free_port
from obm.stack.redis_server import RedisServer
from schemas.topics import Topic
from sinks.redis_sink import RedisSink


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=5_000)
    args = ap.parse_args()
    with stack_dir() as stack:
        server = RedisServer(RedisSettings(port=free_port()), stack, persistent=True)
        server.start()
        try:
            values = bar_values(args.bars)
            records = as_records(Topic.BARS, values)
            sink = RedisSink(server.settings)
            sink.write_records(records[: args.batch])  # warm-up
            sink.commands_sent = 0
            started = time.perf_counter()
            for i in range(0, len(records), args.batch):
                sink.write_records(records[i : i + args.batch])
            elapsed = time.perf_counter() - started
            print(f"write path:  {sink.commands_sent / elapsed:,.0f} writes/s "
                  f"({len(records) / elapsed:,.0f} bars/s, {sink.commands_sent:,} commands)")  # fmt: skip
            per_bar = sink.commands_sent / len(records)
            with kafka(stack) as ks:
                produce(ks, Topic.BARS, values)
                client = server.client()
                client.flushall()
                # Steady state: mark this Redis as already refilled, else the sink would first replay
                # the same bars from the topic (that refill path is tested, not benchmarked).
                client.set(sink.keys.refilled_marker(), "bench")
                e2e = run_end_to_end("redis", ks, len(records), redis_settings=server.settings)
            print(f"end to end:  {e2e * per_bar:,.0f} writes/s ({e2e:,.0f} bars/s from Kafka, offsets committed)")
            print(f"target 100,000 writes/s: {'met' if min(e2e * per_bar, sink.commands_sent / elapsed) >= 100_000 else 'NOT met'}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
