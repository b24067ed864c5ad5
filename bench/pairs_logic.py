"""CPU of the pairs operator's pure logic, no Flink: what one second of 1,000 pairs costs the
Python worker apart from Beam's round trips (bench/flink_pairs.py measures the job as a whole).

Drives flink_jobs/pairs.py as the operator does in streaming (`--mode stream`): each second the
bars of every symbol are queued, then one call applies them and computes the pairs' records of
the second the watermark passed (`advance_pairs`), writes back the pairs it touched (pickled, as
the map state's PICKLED_BYTE_ARRAY does) and builds the output rows' values; or in a catch-up
(`--mode backlog`): every bar queued first, then calls of `max_records_per_call` records until
the end. Prints CPU µs per pair record, split by phase, after a warm-up that fills the windows
(only full windows with the ADF at its cadence are measured), and a cProfile of the measured
part with `--profile`.
Run: .venv/bin/python -m bench.pairs_logic [--profile]"""

from __future__ import annotations

import argparse
import cProfile
import math
import pickle
import pstats
import random
import time
from collections import defaultdict
from typing import Any

from bench.flink_pairs import pair_list
from config import PairSettings
from flink_jobs.connectors import schema_columns
from flink_jobs.pair_analytics import PairSpec, PairState, Pending
from flink_jobs.pair_calls import Clock, advance_pairs, fingerprint, leg_routes, pair_parameters, touched
from schemas import Topic


def bars_of(names: list[str], seconds: int, start_ms: int) -> list[list[tuple[str, int, str]]]:
    """A close per symbol and second (random walks with a common move, as bench/flink_pairs.py)."""
    rng = random.Random(15)
    logs = {s: math.log(100.0 * (i + 1)) for i, s in enumerate(names)}
    out = []
    for k in range(seconds):
        market = rng.gauss(0.0, 2e-4)
        row = []
        for symbol in names:
            logs[symbol] += market + rng.gauss(0.0, 1e-4)
            row.append((f"binance:{symbol}", start_ms + k * 1000, f"{math.exp(logs[symbol]):.4f}"))
        out.append(row)
    return out


class Driver:
    """The operator's calls around `advance_pairs`, timed by phase (process CPU time)."""

    def __init__(self, settings: PairSettings) -> None:
        self.settings = settings
        self.routes = leg_routes(settings)
        params = pair_parameters(settings)
        self.pairs = {s: PairState(PairSpec.parse(s), params) for s in settings.pairs}
        self.names = [name for name, _ in schema_columns(Topic.PAIRS)]
        self.stored: dict[str, bytes] = {}
        self.waiting: dict[str, Pending] = {}
        self.written = self.calls = 0  # bytes written back to state, calls
        self.last: int | None = None
        self.times: dict[str, float] = defaultdict(float)
        self.records = 0
        self.now = 0

    def call(self, queued: list[tuple[str, int, str]], watermark: int, max_steps: int) -> Any:
        clock = time.process_time
        self.now += 50
        t0 = clock()
        before = {key: fingerprint(pair) for key, pair in self.pairs.items()}
        t1 = clock()
        done = advance_pairs(
            self.pairs,
            self.routes,
            queued,
            self.last,
            watermark,
            max_steps,
            Clock(self.now, 10_000),
            self.waiting,
        )
        t2 = clock()
        rows = [(pair_id, *[record[name] for name in self.names]) for pair_id, record in done.records]
        t3 = clock()
        for key in touched(self.pairs, before):
            self.stored[key] = pickle.dumps(self.pairs[key])
            self.written += len(self.stored[key])
        for instrument in done.waiting_changed:
            self.stored[instrument] = pickle.dumps(self.waiting.get(instrument))
            self.written += len(self.stored[instrument])
        self.calls += 1
        t4 = clock()
        self.times["fingerprints"] += t1 - t0
        self.times["advance_pairs (statistics, ADF, alignment)"] += t2 - t1
        self.times["output rows"] += t3 - t2
        self.times["touched + pickle write-back"] += t4 - t3
        self.records += len(rows)
        self.last = done.last if done.last is not None else self.last
        return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60, help="measured seconds after the warm-up")
    parser.add_argument("--window-s", type=int, default=300)
    parser.add_argument("--adf-every-s", type=int, default=10)
    parser.add_argument("--adf-points", type=int, default=300)
    parser.add_argument("--mode", choices=("stream", "backlog", "late"), default="stream")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--late-calls", type=int, default=2_000, help="--mode late: calls measured")
    parser.add_argument("--late-skip", type=int, default=5_000, help="--mode late: calls before those")
    args = parser.parse_args()
    names = [f"S{i:03d}USDT" for i in range(args.symbols)]
    settings = PairSettings(
        pairs=pair_list(names, args.pairs), window_s=args.window_s, min_points=30,
        fill_max_age_ms=5_000, adf_every_s=args.adf_every_s, adf_points=args.adf_points,
    )  # fmt: skip
    warm = args.window_s
    seconds = bars_of(names, warm + args.seconds, 1_700_000_000_000)
    driver = Driver(settings)
    lead = 2
    profiler = cProfile.Profile() if args.profile else None
    if args.mode == "stream":
        measured_from = warm
        for k, row in enumerate(seconds):
            if k == measured_from:
                driver.times.clear()
                driver.records = driver.written = driver.calls = 0
                if profiler:
                    profiler.enable()
            driver.call(row, row[0][1] - lead * 1000, settings.max_records_per_call)
    elif args.mode == "late":
        # The bench runs' path (bench.flink_pairs, 2026-12-06): the source read one partition (a
        # third of the instruments) to its end first, the watermark stayed at its end, then the
        # second partition's bars came behind it, then the third's: calls of one late bar each.
        # Pairs with a leg in the third wait (not started) while the second is read. Measured:
        # `--late-calls` calls after `--late-skip` (by default the middle of the second).
        first, second = {f"binance:{s}" for s in names[::3]}, {f"binance:{s}" for s in names[1::3]}
        bars = [bar for row in seconds for bar in row]
        end = seconds[-1][0][1] + 5_000
        driver.call([bar for bar in bars if bar[0] in first], end, 10**9)
        late = [bar for bar in bars if bar[0] in second] + [
            bar for bar in bars if bar[0] not in first and bar[0] not in second
        ]
        for bar in late[: args.late_skip]:
            driver.call([bar], end, settings.max_records_per_call)
        driver.times.clear()
        driver.records = driver.written = driver.calls = 0
        if profiler:
            profiler.enable()
        for bar in late[args.late_skip : args.late_skip + args.late_calls]:
            driver.call([bar], end, settings.max_records_per_call)
        spent = sum(driver.times.values())
        print(f"late: {driver.calls} calls of one late bar, {spent / driver.calls * 1e3:.1f} ms CPU each")
        driver.records = max(driver.records, 1)
    else:
        queued = [bar for row in seconds for bar in row]
        end = seconds[-1][0][1] - lead * 1000
        driver.call(queued, seconds[warm][0][1], 10**9)  # the warm-up in one call, not measured
        driver.times.clear()
        driver.records = driver.written = driver.calls = 0
        if profiler:
            profiler.enable()
        while driver.last is None or driver.last < end:
            driver.call([], end, settings.max_records_per_call)
    if profiler:
        profiler.disable()
    total = sum(driver.times.values())
    print(
        f"{args.mode}: {driver.records:,} pair records ({args.pairs:,} pairs, window {args.window_s}, "
        f"ADF every {args.adf_every_s} s over {args.adf_points} points): {total / driver.records * 1e6:.1f} "
        f"µs CPU per pair record"
    )
    for phase, spent in sorted(driver.times.items(), key=lambda kv: -kv[1]):
        print(f"  {phase}: {spent / driver.records * 1e6:.1f} µs")
    print(
        f"  written back to state: {driver.written / driver.calls / 1e3:,.1f} KB per call ({driver.calls:,} calls)"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
