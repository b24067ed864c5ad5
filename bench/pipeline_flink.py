"""The Flink jobs of the stack under bench/pipeline.py, seen through the JobManager's REST API
(issue 21): per job, how much of a core it takes, how back-pressured it is, how far its Kafka
source is behind, and its records in and out per second; sampled every few seconds from before
`obm up` until the bench ends, so the same samples give each step's steady state and the start-up
timeline (how long each job's source takes to catch up after the jobs start).

Per sample and job, over its vertices (summed over their subtasks):
- busy: busyTimeMsPerSecond, the ms per second a task thread was neither idle nor back-pressured,
  so busy / 1000 is the job's share of a core (on a loaded machine a busy thread waiting for the
  CPU counts too, so it is an upper bound of its CPU);
- back-pressured: backPressuredTimeMsPerSecond;
- lag: the Kafka consumer's records-lag-max of the source (max over its subtasks): the issue's
  figure, but a windowed maximum (the consumer's metrics window: 2 samples of 30 s), so it falls
  up to a minute after the source caught up, and for the readers of orderbook.processed (written
  exactly-once, read_committed) it holds the records each checkpoint makes visible at once (155-533
  in a healthy stack at 500-700 updates/s); pending: the source's pendingRecords (FLIP-33, its
  current backlog), reported beside it and what tells a caught-up source;
- records in per second: the source operator's numRecordsInPerSecond; out: the main sink's
  writer's (the table `sink`, not the DLQ's; flink_jobs/job_health.py reads the same operators).

The JobManager refreshes these values every ~10 s (metrics.fetcher.update-interval), Flink's meters
average over the last minute, so the sampling interval is not the resolution: ~10 s is."""

from __future__ import annotations

import math
import re
import statistics
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from bench.pipeline_probes import Probe, Window
from flink_jobs.flink_rest import FlinkRest, JobLifecycleError, JobState

BUSY = "busyTimeMsPerSecond"
BACKPRESSURED = "backPressuredTimeMsPerSecond"
LAG = re.compile(r"^Source__.+\.KafkaSourceReader\.KafkaConsumer\.records-lag-max$")
PENDING = re.compile(r"^Source__[^.]+\.pendingRecords$")
RECORDS_IN = re.compile(r"^Source__[^.]+\.numRecordsInPerSecond$")
RECORDS_OUT = re.compile(r"^sink\[\d+\]__Writer\.numRecordsOutPerSecond$")
# What Flink's per-second meters average over, and about the span of the Kafka consumer's
# records-lag-max (2 samples of 30 s): a figure sampled less than this after a change still shows it.
METER_SPAN_S = 60
FIELDS = ("busy_ms", "backpressured_ms", "lag", "pending", "in_per_s", "out_per_s")


def wanted(metric_ids: list[str]) -> list[str]:
    """The ids of one vertex's metrics that a sample reads."""
    return [
        m for m in metric_ids
        if m in (BUSY, BACKPRESSURED) or any(p.match(m) for p in (LAG, PENDING, RECORDS_IN, RECORDS_OUT))
    ]  # fmt: skip


@dataclass(frozen=True)
class JobSample:
    """One job's figures at `at_ms` (None: not reported, e.g. before the source has a partition)."""

    job: str
    at_ms: int
    busy_ms: float | None
    backpressured_ms: float | None
    lag: float | None
    pending: float | None
    in_per_s: float | None
    out_per_s: float | None


def _number(value: Any) -> float | None:
    """A metric value as Flink aggregates it; NaN, infinities (the Kafka consumer's max before its
    first fetch) and negative lags are "not reported"."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def job_sample(job: str, at_ms: int, vertices: list[dict[str, dict[str, Any]]]) -> JobSample:
    """One sample from the aggregated subtask metrics of each of the job's vertices
    ({metric id: {"sum": .., "max": ..}}, GET /jobs/<id>/vertices/<vid>/subtasks/metrics?agg=sum,max)."""

    def total(match: Any, agg: str = "sum") -> float | None:
        values = [
            v for vertex in vertices for mid, m in vertex.items()
            if match(mid) and (v := _number(m.get(agg))) is not None
        ]  # fmt: skip
        if not values:
            return None
        return max(values) if agg == "max" else sum(values)

    lag = total(LAG.match, "max")
    pending = total(PENDING.match)
    return JobSample(
        job=job,
        at_ms=at_ms,
        busy_ms=total(lambda m: m == BUSY),
        backpressured_ms=total(lambda m: m == BACKPRESSURED),
        lag=None if lag is None or lag < 0 else lag,
        pending=None if pending is None or pending < 0 else pending,
        in_per_s=total(RECORDS_IN.match),
        out_per_s=total(RECORDS_OUT.match),
    )


def _quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "max": None}
    return {"p50": round(statistics.median(values), 1), "max": round(max(values), 1)}


def summarize(samples: list[JobSample]) -> dict[str, dict[str, Any]]:
    """Per job over the samples: p50 and max of every figure, the share of a core (busy p50 /
    1000), the busy time per record in (µs), and the backlog at the first and last sample."""
    out: dict[str, dict[str, Any]] = {}
    for job in sorted({s.job for s in samples}):
        mine = [s for s in samples if s.job == job]
        row: dict[str, Any] = {"samples": len(mine)}
        for name in FIELDS:
            row[name] = _quantiles([v for s in mine if (v := getattr(s, name)) is not None])
        busy, rate = row["busy_ms"]["p50"], row["in_per_s"]["p50"]
        row["core_share"] = None if busy is None else round(busy / 1000, 3)
        row["busy_us_per_record"] = round(busy * 1000 / rate, 1) if busy is not None and rate else None
        pending = [s.pending for s in mine if s.pending is not None]
        row["pending_first_last"] = [pending[0], pending[-1]] if pending else None
        out[job] = row
    return out


def apportion(summary: dict[str, dict[str, Any]], taskmanager_cores: float) -> None:
    """Add to each job of a window's summary its estimated CPU (`cpu_cores_est`): the TaskManager's
    CPU over the window shared out by the jobs' busy time. Busy time is wall time: on a machine
    where the TaskManager gets less CPU than its threads want, it counts the waiting for a core
    too, and the busy times add up to more than the TaskManager's CPU (`busy_over_cpu` says by
    how much). The estimate charges the TaskManager's own threads (network, checkpoints, JIT, GC)
    to the jobs, in proportion."""
    busy = {job: row["busy_ms"]["p50"] or 0.0 for job, row in summary.items()}
    total = sum(busy.values()) / 1000
    for job, row in summary.items():
        row["cpu_cores_est"] = round(taskmanager_cores * busy[job] / 1000 / total, 3) if total else None
        rate = row["in_per_s"]["p50"]
        row["cpu_us_per_record_est"] = round(row["cpu_cores_est"] * 1e6 / rate, 1) if total and rate else None
        row["busy_over_cpu"] = round(total / taskmanager_cores, 2) if taskmanager_cores else None


def falling_behind(summary: dict[str, dict[str, Any]], below: float) -> list[str]:
    """The jobs of a window's summary whose source fell behind over it: its backlog (pending) grew
    by more than a second of its input (or `below` records), or was never reported."""
    behind = []
    for job, row in summary.items():
        first_last, rate = row["pending_first_last"], row["in_per_s"]["p50"] or 0
        if first_last is None or first_last[1] - first_last[0] > max(below, rate):
            behind.append(job)
    return behind


def caught_up(
    samples: list[JobSample], start_ms: int, below: float, field: str = "lag"
) -> dict[str, float | None]:
    """When a job's source caught up after its start: the first sample, at or after the one with
    the highest `field` (records-lag-max or pending), whose value is below `below` (a source
    reports no lag before its first fetch, so an early 0 does not count). Seconds from `start_ms`
    (the job's start) to it, the peak and when it was (None: still behind at the last sample)."""
    seen = [s for s in samples if s.at_ms >= start_ms and getattr(s, field) is not None]
    if not seen:
        return {"seconds": None, "peak": None, "peak_after_s": None}
    peak_at = max(range(len(seen)), key=lambda i: (getattr(seen[i], field), -i))
    peak = seen[peak_at]
    after = next((s for s in seen[peak_at:] if getattr(s, field) < below), None)
    return {
        "seconds": None if after is None else round((after.at_ms - start_ms) / 1000, 1),
        "peak": getattr(peak, field),
        "peak_after_s": round((peak.at_ms - start_ms) / 1000, 1),
    }


class FlinkProbe(Probe):
    """Samples every RUNNING job of the cluster each `interval_s`. The REST API need not be up
    yet (the probe starts before `obm up`): until it answers, a poll samples nothing. `window` is
    not used for filtering here: the bench picks each step's samples by time."""

    def __init__(self, window: Window, rest: FlinkRest, interval_s: float = 5.0) -> None:
        super().__init__(window)
        self.rest, self.interval_s = rest, interval_s
        self.samples: list[JobSample] = []
        self.job_start_ms: dict[str, int] = {}  # job name -> start time of its running instance
        self.rest_errors = 0

    def poll(self) -> None:
        try:
            self.sample_once()
        except (OSError, JobLifecycleError):
            self.rest_errors += 1  # the cluster is not up yet, or a job just (re)started
        self.stopping.wait(self.interval_s)

    def sample_once(self) -> None:
        at_ms = int(time.time() * 1000)
        for job in self.rest.jobs_overview():
            if job["state"] != JobState.RUNNING:
                continue
            self.job_start_ms[job["name"]] = int(job["start-time"])
            vertices = [
                self._vertex_values(job["jid"], v["id"])
                for v in self.rest.get(f"/jobs/{job['jid']}")["vertices"]
            ]
            self.samples.append(job_sample(job["name"], at_ms, vertices))

    def _vertex_values(self, job_id: str, vertex_id: str) -> dict[str, dict[str, Any]]:
        base = f"/jobs/{job_id}/vertices/{vertex_id}/subtasks/metrics"
        ids = wanted([m["id"] for m in self.rest.get(base)])
        if not ids:
            return {}
        query = urllib.parse.urlencode({"get": ",".join(ids), "agg": "sum,max"})
        return {m["id"]: m for m in self.rest.get(f"{base}?{query}")}

    def between(self, start_ms: float, end_ms: float) -> list[JobSample]:
        return [s for s in list(self.samples) if start_ms <= s.at_ms < end_ms]

    def startup(self, origin_ms: float, until_ms: float, below: float) -> dict[str, Any]:
        """The start-up of every job from the samples before `until_ms` (the first step's window):
        when each caught up (records-lag-max and pending below `below`) after its start, and the
        timeline of its lag, seconds from `origin_ms` (the start of `obm up`)."""
        samples = self.between(0, until_ms)
        jobs = sorted({s.job for s in samples})
        timeline: dict[int, dict[str, Any]] = {}
        for s in samples:
            row = timeline.setdefault(s.at_ms, {"t_s": round((s.at_ms - origin_ms) / 1000, 1)})
            row[s.job] = {"lag": s.lag, "pending": s.pending, "busy_ms": s.busy_ms}
        return {
            "caught_up_below": below,
            "jobs": {
                job: {
                    "started_after_s": round((self.job_start_ms[job] - origin_ms) / 1000, 1),
                    "records_lag_max": caught_up(mine, self.job_start_ms[job], below, "lag"),
                    "pending": caught_up(mine, self.job_start_ms[job], below, "pending"),
                }
                for job in jobs
                if (mine := [s for s in samples if s.job == job])
            },
            "timeline": [timeline[t] for t in sorted(timeline)],
        }
