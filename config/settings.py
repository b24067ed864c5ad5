"""Settings classes, one per service, read from the environment (and `.env`).

Defaults are the ports of the Compose stack, so the embedded stack and Compose are addressed the
same way. Every class has its own prefix (`OBM_KAFKA_…`, `OBM_PG_…`), and credentials are
`SecretStr` so they never show up in a repr or a log line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from config.notify_routes import NotifyReceiver, NotifyRoute

REPO_ROOT = Path(__file__).resolve().parent.parent


def _cfg(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, env_file=".env", extra="ignore")


class StackSettings(BaseSettings):
    """The embedded local stack: where its state, logs and jars live."""

    model_config = _cfg("OBM_")

    state_dir: Path = REPO_ROOT / ".state"
    jars_dir: Path = REPO_ROOT / ".cache" / "jars"
    # How long `obm up` waits for one component to become healthy.
    start_timeout_s: float = 120.0
    # Sources scripts/bootstrap.sh builds when their package is missing (TimescaleDB:
    # timescaledb-<version>.tar.gz); beside the repository, like the shared data.
    vendor_dir: Path = REPO_ROOT / ".." / "shared" / "vendor"
    # Where the test session's Kafka, PostgreSQL and Redis run: local processes, as `obm up` runs
    # them (local); containers of Redpanda, TimescaleDB and Redis (containers: needs a Docker engine
    # and the testcontainers package); or containers when a Docker engine answers, else local (auto).
    test_services: Literal["local", "containers", "auto"] = "local"
    # Producers side by side, one process per entry `venue[:market]` (binance, okx:swap, bybit,
    # gateio, hyperliquid, ...; a bare venue is its default market), each with its venue's default
    # symbols (producer/venue_defaults.py) and /metrics on ProducerSettings.metrics_port + 20 * i.
    # Empty: the one producer of ProducerSettings (exchange, market, symbols). `obm up --exchanges`.
    exchanges: list[str] = Field(default_factory=list)


class KafkaSettings(BaseSettings):
    """The broker (Apache Kafka in KRaft mode locally, Redpanda in Compose)."""

    model_config = _cfg("OBM_KAFKA_")

    bootstrap_servers: str = "127.0.0.1:9092"
    # Embedded broker only: the KRaft controller listener.
    controller_port: int = 9093
    partitions: int = 3
    # Partitions of single topics by contract name, e.g. {"orderbook.raw": 24}; the others get
    # `partitions` (orderbook.dlq: 1). A job or sink group reads with at most one task or instance
    # per partition, so this bounds its useful parallelism (docs/scaling.md).
    topic_partitions: dict[str, int] = Field(default_factory=dict)
    replication_factor: int = 1
    # Topic names are part of the contract (schemas/topics.py); a prefix lets tests isolate runs.
    topic_prefix: str = ""
    # The broker's transaction.max.timeout.ms (the embedded broker is started with it; Kafka's and
    # Redpanda's default): no transactional producer may ask for a longer transaction.timeout.ms.
    transaction_max_timeout_ms: int = 900_000

    @field_validator("topic_partitions")
    @classmethod
    def _known_topics(cls, value: dict[str, int]) -> dict[str, int]:
        from schemas.topics import Topic  # schemas imports config: only here, at validation

        unknown = sorted(set(value) - {t.value for t in Topic})
        if unknown or any(n < 1 for n in value.values()):
            raise ValueError(f"topic_partitions: unknown topics {unknown} or a count below 1: {value}")
        return value

    @property
    def port(self) -> int:
        return int(self.bootstrap_servers.rsplit(":", 1)[1].split(",")[0])

    @property
    def host(self) -> str:
        return self.bootstrap_servers.split(",")[0].rsplit(":", 1)[0]


class PostgresSettings(BaseSettings):
    """TimescaleDB in Compose, plain PostgreSQL where the extension is absent."""

    model_config = _cfg("OBM_PG_")

    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "obm"
    password: SecretStr = SecretStr("obm-local-only")
    database: str = "orderbook"
    # Embedded server only: TimescaleDB preloaded when it is installed (auto), required (on), or plain
    # PostgreSQL (off). scripts/bootstrap.sh builds it from the source in OBM_VENDOR_DIR when missing.
    timescaledb: Literal["auto", "on", "off"] = "auto"

    def conninfo(self) -> str:
        """A libpq connection string (psycopg 3)."""
        return (
            f"host={self.host} port={self.port} user={self.user} "
            f"password={self.password.get_secret_value()} dbname={self.database}"
        )


class RedisSettings(BaseSettings):
    model_config = _cfg("OBM_REDIS_")

    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    password: SecretStr | None = None
    # Latest values expire so a dead feed shows as stale, not as frozen numbers.
    latest_ttl_s: int = 120
    alerts_stream_maxlen: int = 10_000
    key_prefix: str = "obm"


class FlinkSettings(BaseSettings):
    """The Flink session cluster (embedded: the distribution inside the apache-flink wheel)."""

    model_config = _cfg("OBM_FLINK_")

    jobmanager: str = "127.0.0.1:8081"
    # The jobs `obm up` runs on the session cluster.
    jobs: list[str] = Field(default_factory=lambda: ["metrics", "bars", "alerts"])
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
    # Embedded session cluster: at least the slots of every job of `jobs` at its parallelism.
    taskmanager_slots: int = 4
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

    model_config = _cfg("OBM_METRICS_")

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


class AlertSettings(BaseSettings):
    """Alert thresholds; per-symbol overrides as JSON, e.g.
    OBM_ALERT_OVERRIDES='{"BTCUSDT": {"imbalance_high": 0.8}}'."""

    model_config = _cfg("OBM_ALERT_")

    imbalance_level: int = 5
    imbalance_medium: float = 0.5
    imbalance_high: float = 0.7
    # Hysteresis: a medium episode ends only when |imbalance| falls below this.
    imbalance_clear: float = 0.4
    # The same for a high episode (between imbalance_clear and imbalance_high).
    imbalance_high_clear: float = 0.6
    imbalance_min_duration_ms: int = 1_000
    flip_threshold: float = 0.5
    flip_window_ms: int = 5_000
    spread_widening_k: float = 2.0
    spread_min_duration_ms: int = 1_000
    velocity_threshold: float = 0.05
    cooldown_ms: int = 30_000
    overrides: dict[str, dict[str, float]] = Field(default_factory=dict)
    # The rule profile of the alert rules engine (flink_jobs/alert_rules.py, `obm alerts
    # evaluate`): seed = the absolute thresholds above; adaptive = against each symbol's own rolling
    # distribution (docs/alerts.md). The SQL alerts job applies the seed thresholds either way.
    profile: Literal["seed", "adaptive"] = "adaptive"
    # Per-symbol parameters of the adaptive profile ("*" for all symbols), as `obm alerts
    # calibrate` proposes them, e.g. '{"ETHUSDT": {"imbalance_medium": 3.5}}'.
    adaptive_overrides: dict[str, dict[str, float]] = Field(default_factory=dict)

    def for_symbol(self, symbol: str) -> dict[str, float]:
        base = self.model_dump(exclude={"overrides", "profile", "adaptive_overrides"})
        base.update(self.overrides.get(symbol.upper(), {}))
        return base


class PairSettings(BaseSettings):
    """The pairs job (trades.bars 1 s closes -> pairs.analytics): which pairs, over what window,
    how stale a forward-filled close may be, and how often the ADF test runs (docs/metrics.md).
    Pairs as JSON, y then x, e.g. OBM_PAIRS_PAIRS='["binance:ETHUSDT/binance:BTCUSDT"]'."""

    model_config = _cfg("OBM_PAIRS_")

    pairs: list[str] = Field(default_factory=lambda: ["binance:ETHUSDT/binance:BTCUSDT"])
    # Points (seconds) in the rolling window of the hedge ratio, spread, z-score and correlation.
    window_s: int = Field(default=300, ge=10)
    # No record before the window has this many points (a β of 3 points means nothing).
    min_points: int = Field(default=30, ge=10)
    # A leg's last close is carried forward at most this long; staler, the series breaks.
    fill_max_age_ms: int = Field(default=5_000, ge=0)
    # The ADF test of the spread runs every this many seconds per pair (pairs staggered)...
    adf_every_s: int = Field(default=10, ge=1)
    # ...over the spread's last this many points.
    adf_points: int = Field(default=300, ge=10)

    @field_validator("pairs")
    @classmethod
    def _pairs_parse(cls, value: list[str]) -> list[str]:
        from flink_jobs.pair_analytics import PairSpec

        ids = [PairSpec.parse(text).pair_id for text in value]
        if len(set(ids)) != len(ids):
            raise ValueError(f"a pair is configured twice: {value}")
        return ids

    @model_validator(mode="after")
    def _window_fits(self) -> PairSettings:
        if self.min_points > self.window_s or self.adf_points > self.window_s:
            raise ValueError("min_points and adf_points must not exceed window_s")
        return self


class ProducerSettings(BaseSettings):
    """One producer process: an exchange connector feeding orderbook.raw."""

    model_config = _cfg("OBM_PRODUCER_")

    exchange: str = "binance"  # binance | okx | bybit (docs/producer.md, Venues)
    market: str = "spot"  # spot | usdm | coinm (binance) | swap (okx) | linear | inverse (bybit)
    symbols: list[str] = Field(default_factory=lambda: ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    depth: int = 20  # levels per side published on orderbook.raw
    stream_kind: str = "diff"  # diff (full local book) | partial (depth5/10/20 snapshots)
    # Empty means the exchange's own endpoints (live); the embedded stack points these at the simulator.
    ws_url: str = ""
    rest_url: str = ""
    metrics_port: int = 9108
    queue_max_messages: int = 100_000
    # The diff-depth hot path: native (compiled, producer/native: scripts/bootstrap.sh builds it
    # where cargo is installed), python (the reference), or auto: native when it is built, else
    # python (the producer says so once at start, and `obm status` shows it).
    engine: Literal["auto", "native", "python"] = "auto"
    # Also publish the venue's trades to trades.raw (producer/trades.py: Binance @trade/@aggTrade,
    # OKX trades, Bybit publicTrade, Gate.io spot/futures.trades, Hyperliquid trades), on the book's
    # connections. A venue without a trade stream says so.
    trades: bool = False
    # Circuit breaker of every connection and of the REST client (producer/circuit_breaker.py):
    # opens after this many consecutive failures (connect errors, HTTP 5xx, bans 418/429), for
    # circuit_open_base_s doubled at every opening in a row up to circuit_open_max_s, then lets
    # one probe through (its success closes it).
    circuit_failures: int = Field(default=5, ge=1)
    circuit_open_base_s: float = Field(default=1.0, gt=0)
    circuit_open_max_s: float = Field(default=300.0, gt=0)


class SimulatorSettings(BaseSettings):
    """The built-in market simulator, speaking Binance's spot WebSocket and REST on loopback."""

    model_config = _cfg("OBM_SIM_")

    host: str = "127.0.0.1"
    port: int = 8765
    symbols: list[str] = Field(default_factory=lambda: ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    seed: int = 7
    updates_per_second: float = 10.0  # per symbol (Binance's diff stream is 100 ms)

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.port}"


class ContractSettings(BaseSettings):
    """How every consumer checks records against the topic contract (schemas/conformance.py);
    records that break it go to orderbook.dlq with the reason."""

    model_config = _cfg("OBM_CONTRACT_")

    # A record whose event time is more than this far ahead of the consumer's clock is rejected
    # (venue clock skew is well within it; windowing a record from tomorrow would hold its key's
    # windows open until then).
    max_future_ms: int = Field(default=300_000, ge=1_000)
    # A record older than this is rejected; 0 = the topic's retention (obm/operator/topic_policy.py).
    max_age_ms: int = Field(default=0, ge=0)


class SinkSettings(BaseSettings):
    """The sinks: orderbook.processed/bars/alerts/dlq -> PostgreSQL and Redis."""

    model_config = _cfg("OBM_SINK_")

    postgres_group: str = "obm-sink-postgres"
    redis_group: str = "obm-sink-redis"
    batch_max_records: int = 5_000
    batch_max_ms: int = 200
    postgres_metrics_port: int = 9110
    redis_metrics_port: int = 9111
    # Instances of the database sink in one consumer group (the embedded stack starts them): the
    # group shares the partitions out, so each exchange:symbol is written by one instance, in order.
    postgres_instances: int = Field(default=1, ge=1)
    # Instances of the Redis sink, the same way.
    redis_instances: int = Field(default=1, ge=1)

    def metrics_port(self, kind: str, instance: int = 0) -> int:
        """The /metrics port of instance `instance` (0-based) of a sink: the kind's port, then
        every second port after it, so the two kinds' instances never collide."""
        base = self.postgres_metrics_port if kind == "postgres" else self.redis_metrics_port
        return base + 2 * instance


class DashboardSettings(BaseSettings):
    model_config = _cfg("OBM_DASHBOARD_")

    host: str = "127.0.0.1"
    port: int = 8501
    refresh_s: float = 1.0


class GatewaySettings(BaseSettings):
    """The WebSocket gateway (`obm serve`, docs/gateway.md): pushes books, metrics, bars and alerts
    from the topics to subscribed clients."""

    model_config = _cfg("OBM_GATEWAY_")

    host: str = "127.0.0.1"
    # WebSocket, /healthz and /metrics on one port.
    port: int = 8780
    # local: when no token is configured, connections without one are accepted; production: every
    # connection needs a configured token (none configured = every connection refused).
    profile: Literal["local", "production"] = "local"
    # Bearer tokens clients present (Authorization: Bearer <token>), comma-separated.
    tokens: SecretStr | None = None
    # Browser origins allowed to connect (a client without an Origin header is not a browser and is
    # not checked); "*" allows any.
    allowed_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8501", "http://localhost:8501"]
    )
    max_connections_per_token: int = Field(default=100, ge=1)
    max_subscriptions_per_connection: int = Field(default=100, ge=1)
    # Levels per side of the book channel (the top of orderbook.raw's levels).
    book_levels: int = Field(default=10, ge=1)
    # Messages pending per client before it is disconnected as too slow (events cannot be conflated).
    client_queue_max: int = Field(default=1_000, ge=1)
    # Pending messages beyond which a client gets only the newest update of a book or metrics key.
    conflate_above: int = Field(default=100, ge=0)
    # A send to one client blocked this long (its socket full) disconnects it as too slow.
    send_timeout_s: float = Field(default=10.0, gt=0)
    # Kernel send buffer per client socket (SO_SNDBUF; 0 = the kernel's autotuning, up to
    # net.ipv4.tcp_wmem's maximum, 4 MB on Linux): bounds memory per client and how much a stalled
    # client hides in its socket before its queue fills.
    client_send_buffer_bytes: int = Field(default=262_144, ge=0)
    # Prefix of the consumer group id; each gateway instance adds a unique suffix and commits nothing.
    group_prefix: str = "obm-gateway"
    # Redis reads of the snapshots at subscription.
    redis_timeout_s: float = 2.0


class NotifySettings(BaseSettings):
    """Alert delivery (`obm notify`, docs/alerts-delivery.md): orderbook.alerts to webhooks, Slack
    and Telegram, with routing, grouping, repeat, silences and retries; every attempt recorded in
    PostgreSQL. Receivers and routes are JSON lists, e.g.
    OBM_NOTIFY_RECEIVERS='[{"name": "desk", "kind": "slack", "url": "https://hooks.slack.com/..."}]'."""

    model_config = _cfg("OBM_NOTIFY_")

    host: str = "127.0.0.1"
    # /healthz and /metrics.
    port: int = 9112
    # The consumer group: offsets are committed once the alerts are recorded in PostgreSQL.
    group: str = "obm-notify"
    # Static group membership (group.instance.id): a notifier restarted after a crash takes its
    # partitions back at once instead of after the broker's session timeout. Give each instance its
    # own id; empty = dynamic membership.
    instance_id: str = ""
    # Where alerts go: a JSON list of {name, kind (webhook | slack | telegram), url, token, chat_id}
    # (config/notify_routes.py); url and token are secrets.
    receivers: list[NotifyReceiver] = Field(default_factory=list)
    # Evaluated in order; none configured = every alert to every receiver.
    routes: list[NotifyRoute] = Field(default_factory=list)
    # Alerts of one group arriving within this window after its first one go out in one message.
    group_window_s: float = Field(default=30.0, ge=0)
    # After a message, further alerts of the same group (the condition goes on) wait this long and
    # then go out together in one message.
    repeat_interval_s: float = Field(default=3_600.0, ge=0)
    # Attempts per message before it is recorded as failed (5xx, 429, timeouts and connection
    # errors are retried; other 4xx answers are not).
    max_attempts: int = Field(default=5, ge=1)
    # Exponential backoff between attempts: initial, doubled each time, capped (also caps Retry-After).
    backoff_initial_s: float = Field(default=1.0, gt=0)
    backoff_max_s: float = Field(default=300.0, gt=0)
    # One HTTP request to a receiver.
    timeout_s: float = Field(default=10.0, gt=0)
    # Requests in flight to one receiver at a time; a 429's Retry-After pauses the whole receiver
    # (chat services limit messages per second per webhook or chat).
    max_in_flight_per_receiver: int = Field(default=1, ge=1)
    # How often due groups are looked for.
    tick_s: float = Field(default=1.0, gt=0)
