"""How each Flink job of the monitor is doing, in one line: its state, its restarts with the last
exception, and whether it has stalled, from the JobManager's REST API.

A job is STALLED when records keep coming in but what should follow them does not move: the
output of a job that writes one record per input (metrics), or the watermark of an event-time job
(bars, alerts: their windows and patterns wait for it; registry.JobDefinition.progress). Flink
keeps no history of its metrics, so each check records a progress sample in a small file (the
stack's state folder) and compares with the newest sample at least `stall_after_s` old: the first
check after a while can only say what it sees, the next ones judge.

The counters come from the operators' metrics (values the JobManager refreshes every ~10 s): the
Kafka source's records in and pending records (lag), the main sink's writer's records sent and
input watermark. The sink is the table `sink` of pipelines.build_pipeline; the DLQ sink beside it
does not count as output."""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flink_jobs.flink_rest import (
    ACTIVE_STATES,
    FAILING_STATES,
    FlinkRest,
    JobLifecycleError,
    JobState,
    one_line_cause,
)
from flink_jobs.registry import ProgressSignal

SOURCE_METRIC = re.compile(r"^Source__source\[\d+\]\.(numRecordsIn|pendingRecords)$")
SINK_METRIC = re.compile(r"^sink\[\d+\]__Writer\.(numRecordsSend|currentInputWatermark)$")
# Flink reports Long.MIN_VALUE as the watermark of an operator that has seen none.
NO_WATERMARK_BELOW = -(2**62)
HISTORY_SAMPLES_PER_JOB = 40


@dataclass(frozen=True)
class Progress:
    """One sample of a job's counters at `at_ms` (wall clock of the check)."""

    at_ms: int
    records_in: int
    records_out: int
    watermark_ms: int | None
    pending: int | None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def stall_reason(signal: ProgressSignal, before: Progress, now: Progress) -> str | None:
    """Why the job has stalled between two samples, or None. No input (an idle topic) and a
    restart in between (counters start again from zero) are not stalls."""
    came_in = now.records_in - before.records_in
    if came_in <= 0 or now.records_out < before.records_out:
        return None
    span = f"{(now.at_ms - before.at_ms) / 1000:.0f} s"
    if signal == "output" and now.records_out == before.records_out:
        return f"no output for {span} while {came_in} records came in"
    if signal == "watermark" and (now.watermark_ms or 0) <= (before.watermark_ms or 0):
        where = "no watermark" if now.watermark_ms is None else f"watermark stuck at {_iso(now.watermark_ms)}"
        return f"{where} for {span} while {came_in} records came in"
    return None


class ProgressHistory:
    """The progress samples of earlier checks, per Flink job id, in one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict[str, list[dict[str, Any]]]:
        try:
            data: dict[str, list[dict[str, Any]]] = json.loads(self.path.read_text())
            return data
        except (OSError, ValueError):
            return {}

    def baseline(self, job_id: str, now_ms: int, stall_after_s: float) -> Progress | None:
        """The newest sample at least `stall_after_s` older than `now_ms`."""
        old_enough = [
            Progress(**s) for s in self._load().get(job_id, []) if s["at_ms"] <= now_ms - stall_after_s * 1000
        ]
        return max(old_enough, key=lambda p: p.at_ms, default=None)

    def record(self, samples: dict[str, Progress]) -> None:
        """Add the samples of a check; only jobs still known keep their history."""
        data = self._load()
        kept = {
            jid: (data.get(jid, []) + [asdict(p)])[-HISTORY_SAMPLES_PER_JOB:] for jid, p in samples.items()
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(kept))
        tmp.replace(self.path)


def _vertex_values(rest: FlinkRest, job_id: str, vertex_id: str) -> dict[str, dict[str, float]]:
    """{metric id: {"sum": .., "min": ..}} of the source and main-sink metrics of one vertex,
    aggregated over its subtasks."""
    base = f"/jobs/{job_id}/vertices/{vertex_id}/subtasks/metrics"
    ids = [m["id"] for m in rest.get(base) if SOURCE_METRIC.match(m["id"]) or SINK_METRIC.match(m["id"])]
    if not ids:
        return {}
    query = urllib.parse.urlencode({"get": ",".join(ids), "agg": "sum,min"})
    return {m["id"]: m for m in rest.get(f"{base}?{query}")}


def progress_of(rest: FlinkRest, job_id: str, now_ms: int) -> Progress | None:
    """The job's counters now, or None while Flink has not reported them yet (just started)."""
    values: dict[str, dict[str, float]] = {}
    for vertex in rest.get(f"/jobs/{job_id}").get("vertices", []):
        values.update(_vertex_values(rest, job_id, vertex["id"]))

    def pick(suffix: str, agg: str) -> float | None:
        found = [v[agg] for k, v in values.items() if k.endswith(suffix) and agg in v]
        return (min(found) if agg == "min" else sum(found)) if found else None

    records_in, records_out = pick(".numRecordsIn", "sum"), pick(".numRecordsSend", "sum")
    if records_in is None or records_out is None:
        return None
    watermark = pick(".currentInputWatermark", "min")
    pending = pick(".pendingRecords", "sum")
    return Progress(
        at_ms=now_ms,
        records_in=int(records_in),
        records_out=int(records_out),
        watermark_ms=None if watermark is None or watermark < NO_WATERMARK_BELOW else int(watermark),
        pending=None if pending is None or pending < 0 else int(pending),
    )


def restarts_of(rest: FlinkRest, job_id: str) -> int | None:
    """Flink's numRestarts of the job; None before the JobManager has it (or after the job ended)."""
    try:
        answer = rest.get(f"/jobs/{job_id}/metrics?get=numRestarts")
    except JobLifecycleError:
        return None
    return next((int(float(m["value"])) for m in answer if m.get("id") == "numRestarts"), None)


def last_exception(rest: FlinkRest, job_id: str) -> str | None:
    """The job's most recent failure in one line (None when it never failed). When Flink gave up
    restarting, the entry is a wrapper; the task's own exception is among its concurrent ones."""
    entries = (
        rest.get(f"/jobs/{job_id}/exceptions?maxExceptions=1").get("exceptionHistory", {}).get("entries", [])
    )
    if not entries:
        return None
    entry = entries[0]
    trace = str(entry.get("stacktrace") or entry.get("exceptionName", ""))
    line = one_line_cause(trace)
    concurrent = entry.get("concurrentExceptions") or []
    if "Recovery is suppressed" in trace and concurrent:
        return f"{one_line_cause(str(concurrent[0].get('stacktrace', '')))} (Flink stopped restarting it)"
    return line


@dataclass(frozen=True)
class JobHealth:
    name: str
    job_id: str | None = None
    state: str | None = None  # None: the cluster has no job of that name
    restarts: int | None = None
    last_exception: str | None = None
    progress: Progress | None = None
    stalled: str | None = None

    @property
    def healthy(self) -> bool:
        return self.state == JobState.RUNNING and self.stalled is None

    def line(self) -> str:
        """One line for `obm status`: what is wrong first, then the counters."""
        if self.state is None:
            return f"{self.name}: not running"
        head = (
            f"{self.name} STALLED ({self.state}): {self.stalled}"
            if self.stalled
            else f"{self.name} {self.state}"
        )
        parts = [head]
        if self.restarts:
            parts.append(f"{self.restarts} restart{'s' if self.restarts != 1 else ''} since start")
        if self.progress is not None:
            p = self.progress
            lag = "" if p.pending is None else f", lag {p.pending}"
            wm = "" if p.watermark_ms is None else f", watermark {_iso(p.watermark_ms)}"
            parts.append(f"{p.records_in} in, {p.records_out} out{lag}{wm}")
        line = ", ".join(parts)
        if self.last_exception and (self.restarts or self.state in FAILING_STATES):
            line += f"; last exception: {self.last_exception}"
        return line


def check_job(
    rest: FlinkRest,
    name: str,
    overview: list[dict[str, Any]],
    signal: ProgressSignal,
    history: ProgressHistory,
    stall_after_s: float,
    now_ms: int,
) -> tuple[JobHealth, Progress | None]:
    """The health of the job called `name`: its active run, else its latest one (e.g. FAILED).
    Returns the progress sample too, for the history."""
    runs = sorted(
        (j for j in overview if j["name"] == name), key=lambda j: j.get("start-time", 0), reverse=True
    )
    if not runs:
        return JobHealth(name), None
    run = next((j for j in runs if j["state"] in ACTIVE_STATES), runs[0])
    job_id, state = run["jid"], run["state"]
    restarts = restarts_of(rest, job_id)
    failure = last_exception(rest, job_id) if restarts or state in FAILING_STATES else None
    progress = progress_of(rest, job_id, now_ms) if state == JobState.RUNNING else None
    before = history.baseline(job_id, now_ms, stall_after_s) if progress else None
    stalled = stall_reason(signal, before, progress) if before and progress else None
    return JobHealth(name, job_id, state, restarts, failure, progress, stalled), progress
