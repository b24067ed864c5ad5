"""What bench/pipeline.py prints at the end: the latency table of the steps that followed every
record, the Flink jobs' figures of every step (bench/pipeline_flink.py), and each job's start-up."""

from __future__ import annotations

from typing import Any

# Where a book update is followed, in pipeline order (bench/pipeline_probes.py).
STAGES = ("raw", "processed", "redis", "postgres", "gateway")


def show(results: list[dict[str, Any]], startup: dict[str, Any]) -> None:
    recorded = [r for r in results if "latency_ms" in r]
    if recorded:
        print(
            "\nrate/sym  offered/s  raw/s  processed/s  pg rows/s  "
            + "  ".join(f"{s:>22}" for s in STAGES)
            + "  kept up"
        )
    for r in recorded:
        lat = "  ".join(
            f"{r['latency_ms'][s]['p50']!s:>6}/{r['latency_ms'][s]['p99']!s:>7}/{r['latency_ms'][s]['max']!s:>7}"
            for s in STAGES
        )
        t = r["throughput_per_s"]
        print(f"{r['rate_per_symbol']:>8}  {r['offered_updates_per_s']:>9.0f}  {t['raw']:>5}  {t['processed']:>11}  "
              f"{t['postgres_rows']:>9}  {lat}  {r['kept_up']}")  # fmt: skip
    if recorded:
        print("(latency ms from the simulator's event time: p50/p99/max)")
    print(
        "\nrate/sym  job            in/s p50  busy p50/max  busy us/rec  CPU est cores, us/rec  back-pressured p50  lag p50/max  pending p50/max"
    )
    for r in results:
        for job, j in r["flink_jobs"].items():
            print(f"{r['rate_per_symbol']:>8}  {job:<13} {j['in_per_s']['p50']!s:>9}  {j['busy_ms']['p50']!s:>6}/{j['busy_ms']['max']!s:<6}"
                  f"  {j['busy_us_per_record']!s:>11}  {j['cpu_cores_est']!s:>14}, {j['cpu_us_per_record_est']!s:<6}"
                  f"  {j['backpressured_ms']['p50']!s:>18}  {j['lag']['p50']!s:>5}/{j['lag']['max']!s:<6}"
                  f"  {j['pending']['p50']!s:>6}/{j['pending']['max']!s}")  # fmt: skip
        busy_over_cpu = next((j["busy_over_cpu"] for j in r["flink_jobs"].values()), None)
        print(f"{'':>8}  TaskManager {r['cpu_cores'].get('flink-taskmanager')} cores (the jobs' busy times add up to {busy_over_cpu}x that), "
              f"stack {r['stack_cores']}, machine {r['machine_busy_cores']}, load {r['load_average_1m']}")  # fmt: skip
    print(
        "(busy: busyTimeMsPerSecond summed over the job's vertices, ms/s, per record in; CPU est: the TaskManager's CPU shared by busy time)"
    )
    for job, j in startup.get("jobs", {}).items():
        lag, pending = j["records_lag_max"], j["pending"]
        print(f"start-up {job}: started {j['started_after_s']} s after `obm up` began; caught up (< {startup['caught_up_below']}) "
              f"after {lag['seconds']} s by records-lag-max (peak {lag['peak']}), {pending['seconds']} s by pending (peak {pending['peak']})")  # fmt: skip
