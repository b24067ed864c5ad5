"""Redis sink throughput. Target (issue 5): >= 100k writes/s.

One "write" is one change of the data set as Redis itself counts it (`server.dirty`, shown as
`rdb_changes_since_last_save` in INFO persistence; the stack's Redis has RDB snapshots off, so the
counter is never reset and its delta over a run is exact): a SET is one, a ZADD one per member added
or changed, a ZREM or trim one per member removed, a PEXPIRE one, and a command that changes nothing
zero. So a write is a state change whether it arrives as its own command, in a variadic command or
inside a Lua script, and no-op commands do not count. Beside it: the write-flagged commands Redis
executed (INFO commandstats), and bars per second, which is what a user of the sink gets.

1 s bars of 10 symbols are the load: every bar is written, where metrics and books collapse to one
SET per symbol and batch. Per new bar: its ZADD, and once a key holds an hour of bars, the removal
of the bar that left the hour; per key and batch the PEXPIRE; per batch the heartbeat SET.
Figures:
  1. write path: bars in memory through RedisSink.write_records in batches of 5,000, one thread;
     with the CPU of the sink and of the Redis server per bar;
  2. end to end: the bars pre-produced to Kafka (3 partitions, lz4), consumed by the sink's loop
     (pipelined) from an empty group; from the loop's start, and steady state (first to last commit);
  3. the latest-values path: full orderbook.processed records (10 symbols) in memory through
     RedisSink.write_records in batches, one thread: every record is judged against the contract,
     one SET per symbol and batch; records per second and per CPU-second of the sink.

Run: .venv/bin/python -m bench.sink_redis [--bars 200000] [--processed 200000] [--profile]
Older sinks: put their `sinks` package first on the path (see bench.sink_postgres).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any, cast

import redis

from bench._sink_harness import (
    as_records,
    bar_values,
    kafka,
    processed_values,
    produce,
    profiled,
    run_end_to_end,
    stack_dir,
)
from config import RedisSettings
from obm.stack.health import free_port
from obm.stack.redis_server import RedisServer
from schemas.topics import Topic

try:
    from sinks.launch import tune_gc
except ImportError:  # older sinks (see the module docstring)
    tune_gc = None  # type: ignore[assignment]
from sinks.redis_sink import RedisSink


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a local process, from /proc (the Redis server)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def dataset_changes(client: redis.Redis) -> int:
    """Redis's own count of changes to the data set (see the module docstring)."""
    info = _info(client, "persistence")
    if int(info.get("rdb_bgsave_in_progress", 0)) or int(info.get("rdb_saves", 0)):
        raise RuntimeError("an RDB save ran: rdb_changes_since_last_save was reset, the count is wrong")
    return int(info["rdb_changes_since_last_save"])


def write_commands(client: redis.Redis) -> int:
    """Calls of write-flagged commands since the last CONFIG RESETSTAT, as Redis counted them."""
    stats = _info(client, "commandstats")
    total = 0
    for name, stat in stats.items():
        command = name.removeprefix("cmdstat_")
        if "|" in command:  # subcommands (e.g. script|load, config|resetstat) are never data writes
            continue
        if "write" in _flags(client, command):
            total += int(stat["calls"])
    return total


def _info(client: redis.Redis, section: str) -> dict[str, Any]:
    return cast(dict[str, Any], client.info(section))


def _flags(client: redis.Redis, command: str) -> set[str]:
    reply: Any = client.execute_command("COMMAND", "INFO", command)
    entry: Any = reply.get(command) if isinstance(reply, dict) else reply[0]
    raw = entry["flags"] if isinstance(entry, dict) else entry[2]
    return {f.decode() if isinstance(f, bytes) else str(f) for f in raw}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=200_000)
    ap.add_argument(
        "--processed", type=int, default=200_000, help="records of the latest-values path (0: skip)"
    )
    ap.add_argument("--batch", type=int, default=5_000)
    ap.add_argument("--profile", action="store_true", help="cProfile the write path (slows it down)")
    args = ap.parse_args()
    if tune_gc is not None:
        tune_gc()  # as `python -m sinks` does
    with stack_dir() as stack:
        server = RedisServer(RedisSettings(port=free_port()), stack, persistent=True)
        server.start()
        try:
            client = server.client()
            values = bar_values(args.bars)
            records = as_records(Topic.BARS, values)
            sink = RedisSink(server.settings)
            sink.write_records(records[: args.batch])  # warm-up (also loads the scripts)
            client.flushall()
            client.config_resetstat()
            server_pid = int(_info(client, "server")["process_id"])
            changes = dataset_changes(client)
            started, cpu, server_cpu = time.perf_counter(), time.process_time(), _cpu_seconds(server_pid)
            with profiled(args.profile):
                for i in range(0, len(records), args.batch):
                    sink.write_records(records[i : i + args.batch])
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            server_us = (_cpu_seconds(server_pid) - server_cpu) / len(records) * 1e6
            writes, commands = dataset_changes(client) - changes, write_commands(client)
            print(f"write path:  {writes / elapsed:,.0f} writes/s ({len(records) / elapsed:,.0f} bars/s; "
                  f"{writes / len(records):.2f} writes and {commands / len(records):.3f} write commands per bar; "
                  f"{len(records) / cpu:,.0f} bars per CPU-second of the sink, Redis server "
                  f"{server_us:.1f} us CPU per bar)")  # fmt: skip
            with kafka(stack) as ks:
                produce(ks, Topic.BARS, values)
                client.flushall()
                # Steady state: mark this Redis as already refilled, else the sink would first replay
                # the same bars from the topic (that refill path is tested, not benchmarked).
                client.set(sink.keys.refilled_marker(), "bench")
                changes = dataset_changes(client)
                e2e = run_end_to_end("redis", ks, len(records), redis_settings=server.settings)
                per_bar = (dataset_changes(client) - changes) / len(records)
            print(f"end to end:  {e2e.steady * per_bar:,.0f} writes/s steady ({e2e.steady:,.0f} bars/s; "
                  f"from the loop's start {e2e.from_start:,.0f} bars/s; {e2e.per_cpu_second:,.0f} bars per "
                  f"CPU-second; {per_bar:.2f} writes per bar)")  # fmt: skip
            met = min(writes / elapsed, e2e.steady * per_bar) >= 100_000
            print(f"target 100,000 writes/s: {'met' if met else 'NOT met'}")
            if args.processed:
                latest = as_records(Topic.PROCESSED, processed_values(args.processed))
                started, cpu = time.perf_counter(), time.process_time()
                for i in range(0, len(latest), args.batch):
                    sink.write_records(latest[i : i + args.batch])
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
                print(f"latest values (processed): {len(latest) / elapsed:,.0f} records/s; "
                      f"{len(latest) / cpu:,.0f} records per CPU-second of the sink")  # fmt: skip
        finally:
            server.stop()


if __name__ == "__main__":
    main()
