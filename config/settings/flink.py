"""The Flink session cluster and the metrics job that runs on it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings

from config.settings.base import env_config


class FlinkSettings(BaseSettings):
    """The Flink session cluster (embedded: the distribution inside the apache-flink wheel)."""

    model_config = env_config("OBM_FLINK_")

    jobmanager: str = "127.0.0.1:8081"
    # The jobs `obm up` runs on the session cluster: the books' metrics, bars and alerts, the trades'
    # OHLCV bars and the pair analytics (their input: ProducerSettings.trades), and the user rules
    # on the books. Each of the last three added ~1-2% of a core to the TaskManager on 2 cores, and
    # the start takes longer (docs/operations.md, "Default jobs"); leave jobs out, e.g. ["metrics"].
    jobs: list[str] = Field(
        default_factory=lambda: ["metrics", "bars", "alerts", "trade_bars", "pairs", "rules"]
    )
    # Embedded session cluster only: the JobManager's RPC port.
    rpc_port: int = 6123
    jobmanager_memory: str = "1024m"
    taskmanager_memory: str = "2048m"
    # Parallelism of every job. Keys stay in order at any parallelism: each exchange:symbol is on
    # one partition and in one key group.
    parallelism: int = Field(default=1, ge=1)
    # Parallelism of single jobs by name, e.g. {"metrics": 2}; the others run at `parallelism`.
    job_parallelism: dict[str, int] = Field(default_factory=dict)
    # The number of key groups a job's state is cut into, fixed when the job first starts: the
    # highest parallelism it can be rescaled to from a savepoint. 128 is Flink's own default for
    # parallelism up to 85, so savepoints taken before this setting existed still fit.
    max_parallelism: int = Field(default=128, ge=1, le=32_768)
    # Embedded session cluster: at least the slots of every job of `jobs` at its parallelism (the
    # cluster takes slots_needed() when that is more). One slot per default job.
    taskmanager_slots: int = 6
    # Where the jobs write checkpoints: a URI Flink has a file system for, e.g.
    # s3://obm-flink/checkpoints on object storage (deploy/kubernetes). Empty: the cluster's own
    # (the embedded cluster: its state folder).
    checkpoint_dir: str = ""
    # Where savepoints go (the jobs' default, and `obm jobs stop/redeploy`'s): the same kinds of URI.
    # Empty: the cluster's own (`obm jobs`: the stack's state folder).
    savepoint_dir: str = ""
    # Exactly-once outputs become visible when the checkpoint after them completes: at 2 s a record
    # waits ~1.1 s more (p50; p99 2.3 s) per job it passes through, at 10 s ~5.1 s (p99 10.1 s)
    # (docs/benchmarks.md, "Exactly-once outputs"; docs/operations.md).
    checkpoint_interval_ms: int = 2_000
    # Longest a checkpoint may run before Flink declines it (Flink's own default is 10 min).
    checkpoint_timeout_ms: int = Field(default=120_000, ge=1_000)
    # Delivery of the jobs' Kafka outputs (processed, bars, alerts and their DLQ records).
    # exactly-once: each checkpoint's records are one Kafka transaction, committed when the checkpoint
    # completes, so a read_committed consumer (every consumer of the project) sees each record once
    # even after a TaskManager is lost, but only then: up to a checkpoint interval later (measured
    # in docs/benchmarks.md, trade-off in docs/operations.md). at-least-once: visible at once, and a
    # restart from a checkpoint writes the records since that checkpoint again. Without checkpoints
    # (interval 0) the sinks are at-least-once, since a transaction would never commit.
    delivery_guarantee: Literal["exactly-once", "at-least-once"] = "exactly-once"
    # transaction.timeout.ms of those transactional producers: longer than a checkpoint interval plus
    # a checkpoint (a transaction spans both) and at most the broker's transaction.max.timeout.ms
    # (KafkaSettings). It is also the longest a job that dies for good, with a transaction open,
    # holds back read_committed consumers of that partition, and the longest a job may stay down
    # between a checkpoint and its recovery without losing that checkpoint's records.
    kafka_transaction_timeout_ms: int = 600_000
    # Low buffer timeout: latency from raw to processed matters more than batching here.
    buffer_timeout_ms: int = 10
    watermark_out_of_orderness_ms: int = 2_000
    idle_timeout_ms: int = 5_000
    # `obm status` calls a job STALLED when its input grew but its output (metrics job) or its
    # watermark (bars, alerts) did not move since a status check at least this long ago.
    stall_after_s: float = 60.0

    @model_validator(mode="after")
    def _transactions_outlast_checkpoints(self) -> FlinkSettings:
        span = self.checkpoint_interval_ms + self.checkpoint_timeout_ms
        if self.kafka_transaction_timeout_ms <= span:
            raise ValueError(
                f"kafka_transaction_timeout_ms ({self.kafka_transaction_timeout_ms}) must exceed "
                f"checkpoint_interval_ms + checkpoint_timeout_ms ({span}): a transaction spans both"
            )
        return self

    @property
    def rest_port(self) -> int:
        return int(self.jobmanager.rsplit(":", 1)[1])

    @field_validator("job_parallelism")
    @classmethod
    def _known_jobs(cls, value: dict[str, int]) -> dict[str, int]:
        from flink_jobs.registry import JOB_NAMES  # the registry imports config: only here

        unknown = sorted(set(value) - set(JOB_NAMES))
        if unknown or any(n < 1 for n in value.values()):
            raise ValueError(f"job_parallelism: unknown jobs {unknown} or a parallelism below 1: {value}")
        return value

    def parallelism_of(self, job: str) -> int:
        return self.job_parallelism.get(job, self.parallelism)

    def slots_needed(self) -> int:
        """Task slots the jobs of `jobs` take together (one slot per parallel instance: a job's
        operators share slots). A job short of slots waits for them and never runs."""
        return sum(self.parallelism_of(job) for job in self.jobs)


class MetricsJobSettings(BaseSettings):
    """Parameters of the metrics job (orderbook.raw -> orderbook.processed)."""

    model_config = env_config("OBM_METRICS_")

    imbalance_levels: list[int] = Field(default_factory=lambda: [1, 5, 10, 20])
    weighted_imbalance_lambda: float = 0.1
    depth_pcts: list[float] = Field(default_factory=lambda: [0.1, 0.5, 1.0])
    ofi_levels: int = 5
    vtob_levels: int = 10
    velocity_window_ms: int = 1_000
    baseline_window_ms: int = 60_000
    # Levels per side the job reads for weighted imbalance and depth (the producer publishes 20).
    book_levels: int = 20
    # The top-N imbalance that velocity, the rolling baselines and the z-scores follow.
    baseline_imbalance_level: int = 5
    # linger.ms of the jobs' output producer (orderbook.processed, bars, alerts): a few ms of
    # batching, not more (latency).
    kafka_linger_ms: int = 5
    # Compression of the jobs' output records. The producer compresses in the task's own thread:
    # with lz4 the metrics job's busiest thread spent ~1.5 µs more per ~1.3 KB record (10-15% of
    # it); a co-located broker spent about as much less, so the wall rate on one machine is the
    # same within noise (docs/benchmarks.md). Set lz4 or zstd where disk or network is scarcer.
    kafka_compression: Literal["none", "lz4", "zstd", "snappy", "gzip"] = "none"
    # batch.size of that producer: Kafka's default 16 KB holds ~12 uncompressed processed records,
    # and the broker and the producer's I/O thread pay per batch. linger.ms still bounds the wait.
    kafka_batch_bytes: int = 262_144
