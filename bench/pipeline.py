"""Whole-pipeline benchmark (issue 18): how stale is what a user sees, and how much of the market
the embedded stack keeps up with.

The real `obm up` (simulator, producer, Kafka, the three Flink jobs, both sinks, PostgreSQL, Redis,
the gateway and the dashboard) starts in a fresh state folder on free ports, with the simulator
serving --symbols symbols at the first rate of --rates (updates per second per symbol); for each
later rate the simulator is restarted at it (the producer resynchronises its books). Each step runs
--warmup-s and until orderbook.processed is live (--settle-ms, at most --settle-s), and every
book update whose simulator event time falls in the next --step-s is
followed to where a user sees it (bench/pipeline_probes.py):

- latency from the event time to the record on orderbook.raw (the producer's part) and on
  orderbook.processed, the latest value in Redis
  (polled every 100 ms), the row in PostgreSQL (a sample of symbols, polled every 500 ms), an
  alert on orderbook.alerts, a message of the WebSocket gateway: p50 / p99 / max;
- exact counts: updates on orderbook.raw, records on orderbook.processed, rows in PostgreSQL, with
  event time in the window, after the pipeline drained (--drain-s at most); a sequence id that
  does not grow per key on orderbook.processed is counted as out of order;
- CPU of each component (process and descendants) and of the whole machine over the window;
- whether the step kept up: nothing missing after the drain, and no stage's latency growing
  through the window (median of the last fifth within 1 s of the first fifth's). The first stage
  whose latency grows, with the busiest process, names the bottleneck;
- per Flink job, from the JobManager's REST API every --flink-interval-s (bench/pipeline_flink.py):
  its share of a core (busy time summed over its vertices), back-pressured time, its source's
  records-lag-max and pending records, records in and out per second (p50 and max over the
  window); and, once per run, each job's start-up: its lag every few seconds from the start of
  `obm up` to the first window, and when its source caught up (below --caught-up-lag records).

--jobs-only measures only the Flink jobs and the CPU per component (no probe reads every record:
at thousands of updates a second their own CPU competes with the stack on a small machine), and
opens each window once every job's source is caught up. Issue 21's live figures (the alerts job's
share of a core and its start-up lag), 50 symbols at the simulator's default rate, then 150
symbols at 100 updates/s each:

    .venv/bin/python -m bench.pipeline --jobs-only --symbols 50 --rates 10 --step-s 300 --warmup-s 60 \
        --out alerts-50.json
    .venv/bin/python -m bench.pipeline --jobs-only --symbols 150 --rates 100 --step-s 300 --warmup-s 60 \
        --out alerts-150.json

The stack is stopped and its state removed at the end. Results are printed and, with --out,
written as JSON. The numbers depend on everything else the machine runs: note the load printed
with them (docs/benchmarks.md says where each figure came from).

Full run (a quiet machine, ~25 minutes; the issue's steps):

    .venv/bin/python -m bench.pipeline --symbols 400 --rates 10,25,50 --step-s 300 --warmup-s 60 \\
        --out pipeline.json

Quick check that it works (a loaded machine; these numbers are not the figure):

    .venv/bin/python -m bench.pipeline --symbols 100 --rates 10 --step-s 60 --warmup-s 30

Parallelism under test: --metrics-parallelism N (the metrics job), --sink-instances N (each sink),
--partitions N (orderbook.raw and orderbook.processed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.pipeline_flink import METER_SPAN_S, FlinkProbe, apportion, falling_behind, summarize
from bench.pipeline_probes import (
    GatewayProbe,
    KafkaProbe,
    PostgresProbe,
    RedisProbe,
    Seen,
    Window,
    component_cpu_s,
    machine_busy_s,
    now_ms,
    pg_count,
)
from bench.pipeline_report import STAGES, show
from bench.stack_startup import stack_env
from config import FlinkSettings, KafkaSettings, PostgresSettings, RedisSettings, StackSettings
from flink_jobs.flink_rest import FlinkRest
from flink_jobs.registry import job_display_name
from schemas.redis_layout import RedisLayout

EXCHANGE = "binance"


def symbols_of(n: int) -> list[str]:
    """n Binance-like spot symbols: the three defaults, then S0004USDT, ..."""
    base = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    return (base + [f"S{i:04d}USDT" for i in range(len(base) + 1, n + 1)])[:n]


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "n": len(ordered),
        "p50": round(at(0.50), 1),
        "p99": round(at(0.99), 1),
        "max": round(ordered[-1], 1),
    }


def growth_ms(seen: Seen) -> float | None:
    """Median latency of the last fifth of the sightings minus that of the first fifth."""
    if len(seen.latencies) < 50:
        return None
    fifth = len(seen.latencies) // 5
    return statistics.median(seen.latencies[-fifth:]) - statistics.median(seen.latencies[:fifth])


class PipelineBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.state = Path(tempfile.mkdtemp(prefix="obm-bench-pipeline-"))
        self.state.chmod(0o755)
        self.symbols = symbols_of(args.symbols)
        self.env = stack_env(self.state) | {
            "OBM_SIM_SYMBOLS": json.dumps(self.symbols),
            "OBM_SIM_UPDATES_PER_SECOND": str(args.rates[0]),
            "OBM_FLINK_JOB_PARALLELISM": json.dumps({"metrics": args.metrics_parallelism}),
            "OBM_SINK_POSTGRES_INSTANCES": str(args.sink_instances),
            "OBM_SINK_REDIS_INSTANCES": str(args.sink_instances),
        }
        if args.partitions:
            self.env["OBM_KAFKA_TOPIC_PARTITIONS"] = json.dumps(
                {"orderbook.raw": args.partitions, "orderbook.processed": args.partitions}
            )
        with_env = {k: v for k, v in self.env.items() if k.startswith("OBM_")}
        self.kafka = KafkaSettings(bootstrap_servers=with_env["OBM_KAFKA_BOOTSTRAP_SERVERS"])
        self.redis = RedisSettings(port=int(with_env["OBM_REDIS_PORT"]))
        self.pg = PostgresSettings(port=int(with_env["OBM_PG_PORT"]))
        self.gateway_url = f"ws://127.0.0.1:{with_env['OBM_GATEWAY_PORT']}"
        self.flink = FlinkProbe(
            Window(),
            FlinkRest.of(FlinkSettings(jobmanager=with_env["OBM_FLINK_JOBMANAGER"])),
            args.flink_interval_s,
        )
        self.rate = args.rates[0]
        self.windows: list[Window] = []
        self.startup: dict[str, Any] = {}

    def obm(self, *argv: str, timeout_s: float = 900) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "obm.cli", *argv], env=self.env, capture_output=True, text=True,
            timeout=timeout_s, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"obm {' '.join(argv)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")

    def set_rate(self, rate: float) -> None:
        """Restart the stack's simulator at `rate` updates/s per symbol (its other settings kept),
        and the producer after it: a fresh producer syncs every book from a snapshot at once, where
        a running one would reconnect with backoff (its circuit breaker opens while the simulator
        is down)."""
        from obm.stack.supervisor import StackConfig, build_components

        cfg = StackConfig.load_or_default(StackSettings(state_dir=self.state))
        old = {c.name: c for c in build_components(cfg)}
        old["producer"].stop()
        old["simulator"].stop()
        cfg.simulator = cfg.simulator.model_copy(update={"updates_per_second": rate})
        cfg.save()
        new = {c.name: c for c in build_components(cfg)}
        new["simulator"].start()
        new["producer"].start()

    def step(self, rate: float) -> dict[str, Any]:
        if rate != self.rate:  # the first step runs at the rate the stack started with
            self.set_rate(rate)
            self.rate = rate
        time.sleep(self.args.warmup_s)  # the bench's own pacing: nothing is asserted on time here
        return self.jobs_step(rate) if self.args.jobs_only else self.records_step(rate)

    def _measure(self, window: Window) -> dict[str, Any]:
        """Open the window now, wait it out; the CPU of each component and of the machine over it,
        and the Flink jobs' figures (bench/pipeline_flink.py)."""
        window.open(int(now_ms()), self.args.step_s)
        self.windows.append(window)
        cpu0, busy0 = component_cpu_s(self.state), machine_busy_s()
        while now_ms() < window.end_ms:
            time.sleep(0.2)
        cpu1, busy1 = component_cpu_s(self.state), machine_busy_s()
        seconds = (window.end_ms - window.start_ms) / 1000
        cpu = {name: round((cpu1.get(name, 0) - cpu0.get(name, 0)) / seconds, 3) for name in sorted(cpu1)}
        jobs = summarize(self.flink.between(window.start_ms, window.end_ms))
        apportion(jobs, cpu.get("flink-taskmanager", 0.0))
        return {
            "window_s": seconds,
            "cpu_cores": cpu,
            "stack_cores": round(sum(v for k, v in cpu.items() if not k.startswith("bench")), 2),
            "machine_busy_cores": round((busy1[0] - busy0[0]) / seconds, 2),
            "load_average_1m": round(os.getloadavg()[0], 1),
            "flink_jobs": jobs,
        }

    def jobs_step(self, rate: float) -> dict[str, Any]:
        """--jobs-only: the Flink jobs (REST) and the CPU of the components, without the probes
        that read every record (their own CPU would compete with the stack on a small machine).
        The window opens a minute after every job's source caught up (pending below
        --caught-up-lag): Flink's per-second meters and the consumer's records-lag-max span the last
        minute, so until then they still show the catch-up."""
        settled_after = self._settle_jobs()
        time.sleep(METER_SPAN_S)
        measured = self._measure(Window())
        jobs = measured["flink_jobs"]
        behind = falling_behind(jobs, self.args.caught_up_lag)
        into_flink = jobs.get(job_display_name("metrics"), {}).get("in_per_s", {}).get("p50")
        return {
            "rate_per_symbol": rate,
            "offered_updates_per_s": rate * len(self.symbols),
            "raw_into_metrics_job_per_s_p50": into_flink,
            "settled_after_s": settled_after,
            **measured,
            "kept_up": bool(jobs) and not behind,
            "falling_behind": behind,
        }

    def _settle_jobs(self) -> float | None:
        """Seconds until every running job's source is caught up (None: not within --settle-s)."""
        t0, since = time.monotonic(), now_ms()
        while time.monotonic() - t0 < self.args.settle_s:
            latest = {s.job: s for s in self.flink.between(since, float("inf"))}
            if (
                self.flink.job_start_ms
                and set(latest) >= set(self.flink.job_start_ms)
                and all(
                    s.pending is not None and s.pending < self.args.caught_up_lag for s in latest.values()
                )
            ):
                return round(time.monotonic() - t0, 1)
            time.sleep(1)
        return None

    def records_step(self, rate: float) -> dict[str, Any]:
        window = Window()
        layout = RedisLayout.from_settings(self.redis)
        kafka = KafkaProbe(window, self.kafka)
        redis = RedisProbe(window, self.redis, [layout.latest(EXCHANGE, s) for s in self.symbols])
        sample = self.symbols[:: max(1, len(self.symbols) // self.args.pg_sample)]
        pg = PostgresProbe(window, self.pg, EXCHANGE, sample)
        gateway = GatewayProbe(window, self.gateway_url)
        probes = [kafka, redis, pg, gateway]
        for probe in probes:
            probe.start()
        for probe in probes:
            if not probe.ready.wait(120):
                raise RuntimeError(f"{type(probe).__name__} not reading after 120 s: {probe.error!r}")
        settled_after = self._settle(kafka)
        measured = self._measure(window)
        cpu = measured["cpu_cores"]
        drained_after = self._drain(kafka, window)
        stored = self._stored(kafka, window)
        for probe in probes:
            probe.stop()
        seconds = measured["window_s"]
        seen = {
            "raw": kafka.raw,
            "processed": kafka.processed,
            "redis": redis.seen,
            "postgres": pg.seen,
            "gateway": gateway.seen,
        }
        growth = {name: growth_ms(s) for name, s in seen.items()}
        complete = kafka.raw.count == kafka.processed.count == stored and kafka.processed.out_of_order == 0
        growing = [name for name in STAGES if (growth[name] or 0) > 1_000]
        return {
            "rate_per_symbol": rate,
            "offered_updates_per_s": rate * len(self.symbols),
            "counts": {
                "raw": kafka.raw.count, "processed": kafka.processed.count, "postgres_rows": stored,
                "processed_out_of_order": kafka.processed.out_of_order, "alerts": kafka.alerts.count,
                "gateway_messages": gateway.seen.count,
            },
            "throughput_per_s": {"raw": round(kafka.raw.count / seconds), "processed": round(kafka.processed.count / seconds),
                                 "postgres_rows": round(stored / seconds)},
            "latency_ms": {name: percentiles(s.latencies) for name, s in {**seen, "alerts": kafka.alerts}.items()},
            "latency_growth_ms": growth,
            "settled_after_s": settled_after,
            "drained_after_s": drained_after,
            **measured,
            "kept_up": bool(kafka.raw.count) and complete and not growing and drained_after is not None,
            "bottleneck": self._bottleneck(growing, complete, cpu) if kafka.raw.count else "no update reached orderbook.raw",
        }  # fmt: skip

    def _settle(self, kafka: KafkaProbe) -> float | None:
        """Seconds until orderbook.processed is live (its newest record less than --settle-ms
        behind its event time), so the window measures the steady state, not a backlog left by
        the start or the restart (None: not within --settle-s; the window opens anyway)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < self.args.settle_s:
            if kafka.current_lag_ms < self.args.settle_ms:
                return round(time.monotonic() - t0, 1)
            time.sleep(0.5)
        return None

    def _drain(self, kafka: KafkaProbe, window: Window) -> float | None:
        """Seconds after the window until orderbook.processed holds as many of its records as
        orderbook.raw (None: not within --drain-s)."""
        deadline = time.monotonic() + self.args.drain_s
        while time.monotonic() < deadline:
            if kafka.raw.count and kafka.processed.count >= kafka.raw.count:
                return round((now_ms() - window.end_ms) / 1000, 1)
            time.sleep(0.5)
        return None

    def _stored(self, kafka: KafkaProbe, window: Window) -> int:
        """The window's rows in PostgreSQL once they are all there (as many as orderbook.processed
        holds), or the count when --drain-s runs out. The database sink reads committed records
        and writes in batches, a second or two behind orderbook.processed: counted at once, the
        rows in flight looked missing (58 of 562,794 in the full run of 2026-12-05)."""
        deadline = time.monotonic() + self.args.drain_s
        while True:
            stored = pg_count(self.pg, window)
            if stored >= kafka.processed.count or time.monotonic() > deadline:
                return stored
            time.sleep(0.5)

    @staticmethod
    def _bottleneck(growing: list[str], complete: bool, cpu: dict[str, float]) -> str | None:
        if not growing and complete:
            return None
        busiest = max((n for n in cpu if not n.startswith("bench")), key=lambda n: cpu[n])
        where = growing[0] if growing else "counts incomplete"
        return f"latency grows from {where}; busiest process {busiest} ({cpu[busiest]:.2f} cores)"

    def run(self) -> list[dict[str, Any]]:
        """The steps' results; `self.startup` holds the jobs' start-up (FlinkProbe.startup) from
        the start of `obm up` to the first step's window."""
        results = []
        self.flink.start()  # before `obm up`: it samples once the cluster answers
        up_started_ms = now_ms()
        try:
            self.obm("up")
            for rate in self.args.rates:
                result = self.step(rate)
                results.append(result)
                if len(results) == 1:
                    self.startup = self.flink.startup(
                        up_started_ms, self.windows[0].start_ms, self.args.caught_up_lag
                    )
                    print(json.dumps({"startup": self.startup}, indent=1), flush=True)
                print(json.dumps(result, indent=1), flush=True)
        finally:
            self.flink.stopping.set()
            try:
                self.obm("down")
            finally:
                if not self.args.keep_state:
                    shutil.rmtree(self.state, ignore_errors=True)
        self.flink.stop()  # raises what stopped the probe, if anything did
        return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pipeline",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--symbols", type=int, default=400, help="symbols the simulator serves (default 400)")
    parser.add_argument(
        "--rates", type=lambda s: [float(x) for x in s.split(",")], default=[10.0, 25.0, 50.0],
        help="updates per second per symbol, one step each (default 10,25,50)",
    )  # fmt: skip
    parser.add_argument("--step-s", type=float, default=300, help="measured seconds per step (default 300)")
    parser.add_argument(
        "--warmup-s", type=float, default=60, help="seconds before each step's window (default 60)"
    )
    parser.add_argument(
        "--settle-s",
        type=float,
        default=300,
        help="wait at most this for processed to be live before a window",
    )
    parser.add_argument(
        "--settle-ms", type=float, default=2000, help="'live': newest processed record this recent"
    )
    parser.add_argument(
        "--drain-s", type=float, default=120, help="wait at most this after a window for the counts"
    )
    parser.add_argument("--pg-sample", type=int, default=20, help="symbols whose rows are polled for latency")
    parser.add_argument("--metrics-parallelism", type=int, default=1)
    parser.add_argument("--sink-instances", type=int, default=1, help="instances of each sink (one group)")
    parser.add_argument(
        "--partitions", type=int, default=0, help="partitions of raw and processed (0: settings)"
    )
    parser.add_argument(
        "--jobs-only", action="store_true",
        help="measure only the Flink jobs (REST) and the CPU per component: no probe reads every record",
    )  # fmt: skip
    parser.add_argument("--flink-interval-s", type=float, default=5, help="seconds between Flink samples")
    parser.add_argument(
        "--caught-up-lag", type=float, default=100, help="a source this few records behind has caught up"
    )
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--keep-state", action="store_true", help="keep the stack's state folder (logs)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"load average before: {os.getloadavg()}, cores: {os.cpu_count()}", flush=True)
    bench = PipelineBench(args)
    results = bench.run()
    show(results, bench.startup)
    if args.out:
        args.out.write_text(
            json.dumps(
                {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "startup": bench.startup,
                    "steps": results,
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
