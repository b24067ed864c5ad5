"""The pure parts of the whole-pipeline bench's Flink probe (bench/pipeline_flink.py): which of a
vertex's metrics it reads, how a job's sample adds up its vertices, the window's summary, when a
job's source caught up after its start, and which jobs fell behind. The metric ids are those the
JobManager of the stack's Flink 2.2 lists for the alerts job (GET /jobs/<id>/vertices/<vid>/
subtasks/metrics)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench.pipeline_flink import (
    FlinkProbe,
    JobSample,
    apportion,
    caught_up,
    falling_behind,
    job_sample,
    summarize,
    wanted,
)
from bench.pipeline_probes import Window
from flink_jobs.flink_rest import FlinkRest

pytestmark = pytest.mark.unit

SOURCE_VERTEX_IDS = [
    "Calc[2].numRecordsInPerSecond",
    "Source__source[1].KafkaSourceReader.KafkaConsumer.records-lag-max",
    "Source__source[1].KafkaSourceReader.KafkaConsumer.records-lag-avg",
    "Source__source[1].numRecordsInPerSecond",
    "Source__source[1].numRecordsOutPerSecond",
    "Source__source[1].pendingRecords",
    "Source__source[1].split.orderbook_processed-0.watermark.idleTimeMsPerSecond",
    "backPressuredTimeMsPerSecond",
    "busyTimeMsPerSecond",
    "hardBackPressuredTimeMsPerSecond",
    "idleTimeMsPerSecond",
    "dlq[8]__Writer.numRecordsOutPerSecond",
    "numRecordsInPerSecond",
]
SINK_VERTEX_IDS = [
    "ProcessTableFunction[4].numRecordsInPerSecond",
    "backPressuredTimeMsPerSecond",
    "busyTimeMsPerSecond",
    "sink[6]__Committer.numRecordsOutPerSecond",
    "sink[6]__Writer.numRecordsInPerSecond",
    "sink[6]__Writer.numRecordsOutPerSecond",
    "sink[6]__Writer.numRecordsSend",
]


def test_a_sample_reads_busy_backpressure_lag_backlog_and_the_source_and_main_sink_rates() -> None:
    assert wanted(SOURCE_VERTEX_IDS) == [
        "Source__source[1].KafkaSourceReader.KafkaConsumer.records-lag-max",
        "Source__source[1].numRecordsInPerSecond",
        "Source__source[1].pendingRecords",
        "backPressuredTimeMsPerSecond",
        "busyTimeMsPerSecond",
    ]
    # the DLQ's writer and the committer are not the job's output
    assert wanted(SINK_VERTEX_IDS) == [
        "backPressuredTimeMsPerSecond",
        "busyTimeMsPerSecond",
        "sink[6]__Writer.numRecordsOutPerSecond",
    ]


def _agg(total: float, top: float | None = None) -> dict[str, float]:
    return {"sum": total, "max": total if top is None else top}


def test_a_job_sample_sums_its_vertices_and_takes_the_highest_lag_of_its_subtasks() -> None:
    source = {
        "busyTimeMsPerSecond": _agg(28.0),
        "backPressuredTimeMsPerSecond": _agg(742.0),
        "Source__source[1].KafkaSourceReader.KafkaConsumer.records-lag-max": _agg(15_000.0, 14_999.0),
        "Source__source[1].pendingRecords": _agg(12_000.0),
        "Source__source[1].numRecordsInPerSecond": _agg(1618.3),
    }
    sink = {
        "busyTimeMsPerSecond": _agg(20.0),
        "backPressuredTimeMsPerSecond": _agg(0.0),
        "sink[6]__Writer.numRecordsOutPerSecond": _agg(38.8),
    }
    s = job_sample("obm-alerts", 1_000, [source, sink, {}])
    assert s == JobSample("obm-alerts", 1_000, 48.0, 742.0, 14_999.0, 12_000.0, 1618.3, 38.8)


def test_values_flink_or_kafka_report_before_the_first_fetch_count_as_not_reported() -> None:
    vertex: dict[str, dict[str, Any]] = {
        "busyTimeMsPerSecond": {"sum": math.nan, "max": math.nan},
        "Source__source[1].KafkaSourceReader.KafkaConsumer.records-lag-max": _agg(-math.inf),
        "Source__source[1].pendingRecords": _agg(-1.0),
        "Source__source[1].numRecordsInPerSecond": {"sum": "NaN"},
    }
    s = job_sample("obm-metrics", 5, [vertex])
    assert (s.busy_ms, s.lag, s.pending, s.in_per_s, s.out_per_s, s.backpressured_ms) == (None,) * 6


def _s(
    at_ms: int, lag: float | None, pending: float | None = None, busy: float = 100.0, rate: float = 500.0
) -> JobSample:
    return JobSample("obm-alerts", at_ms, busy, 0.0, lag, pending, rate, 5.0)


def test_the_summary_gives_the_share_of_a_core_and_the_busy_time_per_record() -> None:
    samples = [_s(0, 10, 0, busy=120.0), _s(5_000, 30, 20, busy=80.0), _s(10_000, 20, 10, busy=100.0)]
    samples.append(JobSample("obm-metrics", 0, 50.0, None, None, None, None, None))
    row = summarize(samples)["obm-alerts"]
    assert row["samples"] == 3
    assert row["busy_ms"] == {"p50": 100.0, "max": 120.0}
    assert row["core_share"] == 0.1
    assert row["busy_us_per_record"] == 200.0  # 100 ms/s over 500 records/s
    assert row["lag"] == {"p50": 20.0, "max": 30.0}
    assert row["pending_first_last"] == [0, 10]
    metrics = summarize(samples)["obm-metrics"]
    assert metrics["busy_us_per_record"] is None and metrics["pending_first_last"] is None


def test_a_source_catches_up_after_its_peak_lag_not_at_the_zero_it_reports_before_the_flow() -> None:
    samples = [
        _s(1_000, None),
        _s(2_000, 0),
        _s(7_000, 9_000),
        _s(12_000, 15_000),
        _s(17_000, 400),
        _s(22_000, 60),
    ]
    assert caught_up(samples, start_ms=1_000, below=100) == {
        "seconds": 21.0,
        "peak": 15_000,
        "peak_after_s": 11.0,
    }
    still_behind = samples[:-1]
    assert caught_up(still_behind, 1_000, 100)["seconds"] is None
    assert caught_up([_s(1_000, None)], 1_000, 100) == {"seconds": None, "peak": None, "peak_after_s": None}


def test_a_job_falls_behind_when_its_backlog_grows_by_more_than_a_second_of_input() -> None:
    def row(first: float, last: float, rate: float | None) -> dict:
        return {"pending_first_last": [first, last], "in_per_s": {"p50": rate}}

    summary = {
        "keeps-up": row(0, 400, 500.0),
        "behind": row(0, 600, 500.0),
        "slow-input": row(0, 99, None),
        "never-reported": {"pending_first_last": None, "in_per_s": {"p50": None}},
    }
    assert falling_behind(summary, below=100) == ["behind", "never-reported"]


def test_the_startup_timeline_runs_from_obm_up_to_the_first_window() -> None:
    probe = FlinkProbe(Window(), FlinkRest("127.0.0.1:1"))
    probe.job_start_ms = {"obm-alerts": 3_000, "obm-metrics": 2_000}
    metrics = [
        JobSample("obm-metrics", t, 50.0, 0.0, lag, 0.0, 500.0, 500.0) for t, lag in ((5_000, 0), (10_000, 0))
    ]
    probe.samples = [_s(5_000, 2_000, 1_500), _s(10_000, 50, 0), _s(60_000, 10, 0), *metrics]
    startup = probe.startup(origin_ms=1_000, until_ms=60_000, below=100)
    assert startup["jobs"]["obm-metrics"]["records_lag_max"] == {
        "seconds": 3.0,
        "peak": 0,
        "peak_after_s": 3.0,
    }
    assert startup["jobs"]["obm-alerts"] == {
        "started_after_s": 2.0,
        "records_lag_max": {"seconds": 7.0, "peak": 2_000, "peak_after_s": 2.0},
        "pending": {"seconds": 7.0, "peak": 1_500, "peak_after_s": 2.0},
    }
    assert [row["t_s"] for row in startup["timeline"]] == [4.0, 9.0]
    assert startup["timeline"][0] == {
        "t_s": 4.0,
        "obm-alerts": {"lag": 2_000, "pending": 1_500, "busy_ms": 100.0},
        "obm-metrics": {"lag": 0, "pending": 0.0, "busy_ms": 50.0},
    }


def test_the_taskmanagers_cpu_is_shared_by_busy_time_when_busy_time_counts_the_wait_for_a_core() -> None:
    summary = summarize(
        [
            _s(0, 0, 0, busy=400.0, rate=700.0),
            JobSample("obm-metrics", 0, 1600.0, 0.0, 0.0, 0.0, 700.0, 700.0),
        ]
    )
    apportion(summary, taskmanager_cores=0.5)
    assert summary["obm-alerts"]["cpu_cores_est"] == 0.1  # 0.5 x 400 / 2000
    assert summary["obm-alerts"]["cpu_us_per_record_est"] == 142.9  # 0.1 core over 700 records/s
    assert summary["obm-metrics"]["cpu_cores_est"] == 0.4
    assert summary["obm-metrics"]["busy_over_cpu"] == 4.0  # 2 s of busy time a second on 0.5 core
    idle = summarize([_s(0, 0, 0, busy=0.0)])
    apportion(idle, taskmanager_cores=0.0)
    assert idle["obm-alerts"]["cpu_cores_est"] is None and idle["obm-alerts"]["busy_over_cpu"] is None
