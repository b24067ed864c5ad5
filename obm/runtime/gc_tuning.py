"""Fewer, cheaper cyclic-GC passes for the long-running services that handle a record stream (the
sinks, the gateway).

Per record they allocate tracked containers (decoded records, tuples, rows, frames), so CPython's
default generation-0 threshold (700) runs a collection every few hundred records, and every so
often a full collection rescans everything the process keeps. Objects alive at start-up are frozen
out of the scans and the thresholds raised; collections still run, just far less often. Measured:
+15% of the database sink's decode throughput (docs/benchmarks.md); in the gateway at 20k records/s
to 1,000 clients (bench.gateway_fanout, 45 s, alternated, 2026-12-06), 13 full collections of
18-147 ms each (freeing almost nothing) without it, 1 of 12-17 ms with it: such pauses stall the
fan-out of every client at once."""

from __future__ import annotations

import gc


def tune_gc() -> None:
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
