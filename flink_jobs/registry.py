"""The Flink jobs of the monitor, one entry each: the topic a job reads, the topic it writes, its
logic (input Table -> output Table), whether it needs the DataStream flavour of the environment,
and what must keep advancing while its input flows (how `obm status` tells a stalled job).

Everything that handles jobs by name (the `obm jobs` commands, `obm up`, the Compose rollout, the
pipeline builder) looks them up here, so adding a job is one entry. Importing this module does not
import PyFlink: the logic functions import their modules when called, inside the job process."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from schemas import Topic

if TYPE_CHECKING:
    from pyflink.table import Table

    from flink_jobs.pipelines import JobSpec

# What advances while a healthy job's input flows: "output" for a job that writes a record per
# input record, "watermark" for an event-time job whose output waits for windows or patterns.
ProgressSignal = Literal["output", "watermark"]

JOB_NAME_PREFIX = "obm-"


@dataclass(frozen=True)
class JobDefinition:
    name: str
    input_topic: Topic
    output_topic: Topic
    logic: Callable[[Table, JobSpec], Table]
    progress: ProgressSignal
    # A job with DataStream operators (Python ones) needs a StreamTableEnvironment.
    stream_env: bool = False
    # SQL over the job's conforming input: why the job refuses a row, NULL when it accepts it. A
    # refused row goes to orderbook.dlq with that reason (pipelines.with_refusals), never dropped.
    refusal: Callable[[JobSpec], str] | None = None

    @property
    def display_name(self) -> str:
        """The Flink job name (how `list`, `redeploy` and `obm status` find the running job)."""
        return f"{JOB_NAME_PREFIX}{self.name}"


def _metrics(source: Table, spec: JobSpec) -> Table:
    from flink_jobs.metrics import metrics_table

    return metrics_table(source, spec.metrics)


def _bars(source: Table, spec: JobSpec) -> Table:
    from flink_jobs.bars import bars_table

    return bars_table(source, spec.metrics)


def _alerts(source: Table, spec: JobSpec) -> Table:
    from flink_jobs.alerts import alerts_table

    return alerts_table(source, spec.alerts, spec.metrics)


def _trade_bars(source: Table, spec: JobSpec) -> Table:
    from flink_jobs.trade_bars import ALLOWED_LATENESS_MS, bar_versions, trade_bars_table

    return bar_versions(trade_bars_table(source, ALLOWED_LATENESS_MS))


def _too_late(spec: JobSpec) -> str:
    from flink_jobs.trade_bars import ALLOWED_LATENESS_MS, too_late_reason

    return too_late_reason(ALLOWED_LATENESS_MS)


def _pairs(source: Table, spec: JobSpec) -> Table:
    from flink_jobs.pairs import pairs_table

    return pairs_table(source, spec.pairs)


def _user_rules_on(topic: Topic) -> Callable[[Table, JobSpec], Table]:
    """The user rules on one source topic (flink_jobs/user_rules.py)."""

    def logic(source: Table, spec: JobSpec) -> Table:
        from flink_jobs.user_rules import kafka_rules_source, user_rules_table

        return user_rules_table(source, kafka_rules_source(spec.kafka), topic)

    return logic


JOBS: dict[str, JobDefinition] = {
    job.name: job
    for job in (
        JobDefinition("metrics", Topic.RAW, Topic.PROCESSED, _metrics, progress="output"),
        JobDefinition("bars", Topic.PROCESSED, Topic.BARS, _bars, progress="watermark"),
        JobDefinition(
            "trade_bars",
            Topic.TRADES,
            Topic.TRADE_BARS,
            _trade_bars,
            progress="watermark",
            stream_env=True,
            refusal=_too_late,
        ),
        JobDefinition("alerts", Topic.PROCESSED, Topic.ALERTS, _alerts, progress="watermark"),
        # User rules, live from the rules.changes topic (flink_jobs/user_rules.py), one job per
        # source: the books, the book bars, the trade bars, the pair analytics.
        JobDefinition(
            "rules", Topic.PROCESSED, Topic.ALERTS, _user_rules_on(Topic.PROCESSED), progress="watermark"
        ),
        JobDefinition(
            "rules_bars", Topic.BARS, Topic.ALERTS, _user_rules_on(Topic.BARS), progress="watermark"
        ),
        JobDefinition(
            "rules_trade_bars",
            Topic.TRADE_BARS,
            Topic.ALERTS,
            _user_rules_on(Topic.TRADE_BARS),
            progress="watermark",
        ),
        JobDefinition(
            "rules_pairs", Topic.PAIRS, Topic.ALERTS, _user_rules_on(Topic.PAIRS), progress="watermark"
        ),
        JobDefinition("pairs", Topic.TRADE_BARS, Topic.PAIRS, _pairs, progress="watermark", stream_env=True),
    )
}
JOB_NAMES: tuple[str, ...] = tuple(JOBS)


def job_definition(job: str) -> JobDefinition:
    try:
        return JOBS[job]
    except KeyError:
        raise ValueError(f"unknown job {job!r}; known: {', '.join(JOB_NAMES)}") from None


def job_display_name(job: str) -> str:
    return job_definition(job).display_name
