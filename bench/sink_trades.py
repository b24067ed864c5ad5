"""Raw trades into the trades table (issue 15): trades.raw records through the database sink's
write path on a durable local PostgreSQL (fsync on, as the stack runs it). No target in the issue;
this says how many venue trades a second one sink process stores, on the row path the table takes
(decimal texts stored exactly as numeric: decoded and judged record by record, COPY into the
staging table, INSERT ... ON CONFLICT DO NOTHING).

Figures: the write path (records in memory as JSON bytes, PostgresSink.write in batches, one after
the other: decode, judge, rows, COPY, insert, commit) and the replay (the same batches again, every
trade already stored: nothing inserted). The stored row count is checked after each.

Run: .venv/bin/python -m bench.sink_trades [--rows 100000] [--batch 5000]
"""

from __future__ import annotations

import argparse
import os
import time

import orjson
import psycopg

from bench._sink_harness import as_records, stack_dir
from config import PostgresSettings
from obm.stack.health import free_port
from obm.stack.postgres_server import PostgresServer
from schemas.registry import load_schema
from schemas.topics import Topic
from sinks.batching import SinkBatch
from sinks.postgres_sink import PostgresSink

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT")


def trades_values(n: int) -> list[tuple[str, bytes]]:
    """n trades of five symbols over the last n ms, prices and sizes with the venue's decimals."""
    example = load_schema(Topic.TRADES)["examples"][0]
    base = int(time.time() * 1000) - n
    out = []
    for i in range(n):
        symbol = SYMBOLS[i % len(SYMBOLS)]
        rec = {**example, "symbol": symbol, "trade_id": str(10_000_000 + i), "event_time": base + i,
               "receive_time_ns": (base + i) * 1_000_000 + 417, "price": f"{2500 + i % 977 / 100:.8f}",
               "size": f"{(i % 4999 + 1) / 1000:.8f}", "side": ("buy", "sell")[i % 2]}  # fmt: skip
        out.append((f"binance:{symbol}", orjson.dumps(rec)))
    return out


def _count(settings: PostgresSettings) -> int:
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        row = conn.execute("select count(*) from trades").fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=5_000)
    args = ap.parse_args()
    with stack_dir() as stack:
        pg = PostgresServer(PostgresSettings(port=free_port()), stack, durable=True)
        pg.start()
        try:
            records = as_records(Topic.TRADES, trades_values(args.rows))
            batches = [SinkBatch(records[i : i + args.batch]) for i in range(0, len(records), args.batch)]
            sink = PostgresSink(pg.settings)
            sink.setup()
            started, cpu = time.perf_counter(), time.process_time()
            for batch in batches:
                assert not sink.write(batch).dlq
            write_rate = len(records) / (time.perf_counter() - started)
            write_cpu = len(records) / (time.process_time() - cpu)
            assert _count(pg.settings) == len(records)
            started = time.perf_counter()
            for batch in batches:
                sink.write(batch)
            replay_rate = len(records) / (time.perf_counter() - started)
            sink.close()
            assert _count(pg.settings) == len(records)
            print(f"write path: {write_rate:,.0f} trades/s ({len(records):,} trades, batches of {args.batch:,}; "
                  f"{write_cpu:,.0f} trades per CPU-second of the sink)")  # fmt: skip
            print(f"replay:     {replay_rate:,.0f} trades/s (every trade already stored)")
            print(f"load average {os.getloadavg()}")
        finally:
            pg.stop()


if __name__ == "__main__":
    main()
