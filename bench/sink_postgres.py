"""Database sink throughput: orderbook.processed records into orderbook_metrics on a durable local
PostgreSQL (fsync on, as the stack runs it). Target (issue 5): >= 50k metric rows/s.

Figures:
  1. write path: records already in memory (JSON bytes) through PostgresSink.write in batches of
     5,000, one after the other in one thread: parse, validate, COPY payload, COPY, commit. Also
     split into its two halves: `prepare` alone (the sink's Python work) and `write_prepared` alone
     (the database's work plus the round trips);
  2. replay: the same batches written again (every row already stored: the ON CONFLICT path a
     restart after a crash takes), to show the idempotent path's cost;
  3. end to end: the records pre-produced to a real Kafka broker (3 partitions, lz4), consumed by
     the sink's consume loop (pipelined: batch N+1 is decoded while batch N's transaction runs) from
     an empty group; rate from the loop's start to the last offset commit, the steady-state rate
     (first to last commit), and rows per CPU-second of the sink process.
The stored row count is checked after each phase.

Run: .venv/bin/python -m bench.sink_postgres [--rows 200000] [--profile]
Older sinks (before/after comparisons, docs/benchmarks.md): run from a folder holding only their
`sinks` package (`-m` puts the current folder first on the path), e.g. `mkdir /tmp/old && git
archive 08c2144 sinks | tar -x -C /tmp/old && cd /tmp/old && PYTHONPATH=/tmp/old:<repo>
<repo>/.venv/bin/python -m bench.sink_postgres`; the prepare/write split and the GC tuning are
then skipped. The "before" figures also hid hiredis (a `hiredis.py` raising ImportError on the path).
"""

from __future__ import annotations

import argparse
import os
import time

import psycopg

from bench._sink_harness import (
    as_records,
    kafka,
    processed_values,
    produce,
    profiled,
    run_end_to_end,
    stack_dir,
)
from config import PostgresSettings
from obm.stack.health import free_port
from obm.stack.postgres_server import PostgresServer
from schemas.topics import Topic
from sinks.batching import SinkBatch

try:
    from sinks.launch import tune_gc
except ImportError:  # the sinks before this bench's last change (see the module docstring)
    tune_gc = None  # type: ignore[assignment]
from sinks.postgres_sink import PostgresSink


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a local process, from /proc (the sink's PostgreSQL backend)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _count(settings: PostgresSettings, truncate: bool = False) -> int:
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        row = conn.execute("select count(*) from orderbook_metrics").fetchone()
        if truncate:
            conn.execute("truncate orderbook_metrics")
    return int(row[0]) if row else 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=5_000)
    ap.add_argument("--profile", action="store_true", help="cProfile the write path (slows it down)")
    ap.add_argument("--e2e-only", action="store_true", help="only the end-to-end run (A/B comparisons)")
    args = ap.parse_args()
    if tune_gc is not None:
        tune_gc()  # as `python -m sinks` does
    with stack_dir() as stack:
        pg = PostgresServer(PostgresSettings(port=free_port()), stack, durable=True)
        pg.start()
        try:
            values = processed_values(args.rows)
            records = as_records(Topic.PROCESSED, values)
            batches = [SinkBatch(records[i : i + args.batch]) for i in range(0, len(records), args.batch)]
            if args.e2e_only:
                with kafka(stack) as ks:
                    produce(ks, Topic.PROCESSED, values)
                    e2e = run_end_to_end("postgres", ks, len(records), pg=pg.settings)
                assert _count(pg.settings) == len(records)
                print(f"end to end:  {e2e.from_start:,.0f} rows/s from the loop's start, {e2e.steady:,.0f} "
                      f"rows/s steady; {e2e.per_cpu_second:,.0f} rows per CPU-second; load {os.getloadavg()}")  # fmt: skip
                return
            sink = PostgresSink(pg.settings)
            sink.setup()
            sink.write(batches[0])  # warm-up
            _count(pg.settings, truncate=True)
            backend = sink._connection().info.backend_pid
            started, cpu, server_cpu = time.perf_counter(), time.process_time(), _cpu_seconds(backend)
            with profiled(args.profile):
                for batch in batches:
                    sink.write(batch)
            write_rate = len(records) / (time.perf_counter() - started)
            write_cpu = len(records) / (time.process_time() - cpu)
            server_us = (_cpu_seconds(backend) - server_cpu) / len(records) * 1e6
            assert _count(pg.settings, truncate=True) == len(records)
            split = ""
            if hasattr(sink, "prepare"):  # absent in the sinks before pipelining (module docstring)
                started = time.perf_counter()
                prepared = [sink.prepare(b) for b in batches]
                prepare_rate = len(records) / (time.perf_counter() - started)
                started = time.perf_counter()
                for p in prepared:
                    sink.write_prepared(p)
                store_rate = len(records) / (time.perf_counter() - started)
                split = (f"  prepare alone (decode, validate, COPY rows): {prepare_rate:,.0f} rows/s\n"
                         f"  write_prepared alone (COPY, commit):         {store_rate:,.0f} rows/s\n")  # fmt: skip
            else:
                for batch in batches:  # the rows must be stored for the replay below
                    sink.write(batch)
            started = time.perf_counter()
            for batch in batches:
                sink.write(batch)
            replay_rate = len(records) / (time.perf_counter() - started)
            sink.close()
            assert _count(pg.settings, truncate=True) == len(records)
            print(f"write path:  {write_rate:,.0f} rows/s ({len(records):,} rows, batches of {args.batch:,}; "
                  f"{write_cpu:,.0f} rows per CPU-second of the sink; PostgreSQL backend "
                  f"{server_us:.1f} us CPU per row)")  # fmt: skip
            print(split, end="")
            print(f"replay:      {replay_rate:,.0f} rows/s (every row already stored: ON CONFLICT path)")
            with kafka(stack) as ks:
                produce(ks, Topic.PROCESSED, values)
                e2e = run_end_to_end("postgres", ks, len(records), pg=pg.settings)
            stored = _count(pg.settings)
            assert stored == len(records), stored
            print(f"end to end:  {e2e.from_start:,.0f} rows/s from the loop's start, {e2e.steady:,.0f} rows/s "
                  f"steady; {e2e.per_cpu_second:,.0f} rows per CPU-second ({stored:,} rows stored)")  # fmt: skip
            print(f"target 50,000 rows/s: {'met' if min(write_rate, e2e.steady) >= 50_000 else 'NOT met'}")
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
