"""Database sink throughput: orderbook.processed records into orderbook_metrics on a durable local
PostgreSQL (fsync on, as the stack runs it). Target (issue 5): >= 50k metric rows/s.

Two figures:
  1. write path: records already in memory (JSON bytes) through PostgresSink.write in batches of
     5,000: parse, validate, convert, binary COPY into the staging table, INSERT ... ON CONFLICT, commit;
  2. end to end: the same records pre-produced to a real Kafka broker (3 partitions), consumed by the
     sink's consume loop from an empty group, timed from its start to the last offset commit.

Run: .venv/bin/python -m bench.sink_postgres [--rows 200000]
"""

from __future__ import annotations

import argparse
import time

import psycopg

from bench._sink_harness import as_records, kafka, processed_values, produce, run_end_to_end, stack_dir
from config import PostgresSettings
from obm.stack.health import free_port
from obm.stack.postgres_server import PostgresServer
from schemas.topics import Topic
from sinks.batching import SinkBatch
from sinks.postgres_sink import PostgresSink


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=5_000)
    args = ap.parse_args()
    with stack_dir() as stack:
        pg = PostgresServer(PostgresSettings(port=free_port()), stack, durable=True)
        pg.start()
        try:
            values = processed_values(args.rows)
            records = as_records(Topic.PROCESSED, values)
            sink = PostgresSink(pg.settings)
            sink.setup()
            sink.write(SinkBatch(records[: args.batch]))  # warm-up (also stored: replayed below, no-op)
            with psycopg.connect(pg.settings.conninfo(), autocommit=True) as conn:
                conn.execute("truncate orderbook_metrics")
            started = time.perf_counter()
            for i in range(0, len(records), args.batch):
                sink.write(SinkBatch(records[i : i + args.batch]))
            write_rate = len(records) / (time.perf_counter() - started)
            sink.close()
            with psycopg.connect(pg.settings.conninfo(), autocommit=True) as conn:
                stored = conn.execute("select count(*) from orderbook_metrics").fetchone()[0]
                assert stored == len(records), stored
                conn.execute("truncate orderbook_metrics")
            print(f"write path:  {write_rate:,.0f} rows/s ({len(records):,} rows, batches of {args.batch:,})")
            with kafka(stack) as ks:
                produce(ks, Topic.PROCESSED, values)
                e2e = run_end_to_end("postgres", ks, len(records), pg=pg.settings)
            with psycopg.connect(pg.settings.conninfo(), autocommit=True) as conn:
                stored = conn.execute("select count(*) from orderbook_metrics").fetchone()[0]
            assert stored == len(records), stored
            print(f"end to end:  {e2e:,.0f} rows/s from Kafka, offsets committed ({stored:,} rows stored)")
            print(f"target 50,000 rows/s: {'met' if min(write_rate, e2e) >= 50_000 else 'NOT met'}")
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
