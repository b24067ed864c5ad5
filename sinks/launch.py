"""Builds a sink from the environment's settings and runs it until SIGTERM/SIGINT, which flush the
batch at hand, commit it and exit 0. Shared by `python -m sinks` and `obm sink`."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Any

from config import ContractSettings, KafkaSettings, PostgresSettings, RedisSettings, SinkSettings
from config.clients import LATEST_VALUE_ISOLATION_LEVEL
from obm.runtime.gc_tuning import tune_gc
from obm.runtime.logs import configure_logging
from sinks.batching import BatchingSink
from sinks.consume_loop import ConsumeLoop
from sinks.decoding.contract import SinkContract
from sinks.sink_metrics import SinkMetrics

SINK_KINDS = ("postgres", "redis")


def build_loop(kind: str, kafka: KafkaSettings | None = None, sink_settings: SinkSettings | None = None,
               pg: PostgresSettings | None = None, redis_settings: RedisSettings | None = None,
               contract: ContractSettings | None = None) -> ConsumeLoop:  # fmt: skip
    """The consume loop of one sink kind, from explicit settings or the environment."""
    kafka = kafka or KafkaSettings()
    ss = sink_settings or SinkSettings()
    judge = SinkContract.from_settings(contract)
    sink: BatchingSink[Any]
    consumer_overrides: dict[str, object] = {"session.timeout.ms": ss.session_timeout_ms}
    if kind == "postgres":
        from sinks.postgres_sink import PostgresSink

        sink, group = PostgresSink(pg or PostgresSettings(), contract=judge), ss.postgres_group
    elif kind == "redis":
        from sinks.redis_refill import RedisRefill
        from sinks.redis_sink import RedisSink

        rs = redis_settings or RedisSettings()
        sink = RedisSink(rs, refill=RedisRefill(kafka, rs.latest_ttl_s), contract=judge)
        group = ss.redis_group
        consumer_overrides["isolation.level"] = LATEST_VALUE_ISOLATION_LEVEL
    else:
        raise ValueError(f"unknown sink {kind!r}; one of {SINK_KINDS}")
    return ConsumeLoop(sink, kafka, group, SinkMetrics(kind),
                       batch_max_records=ss.batch_max_records, batch_max_ms=ss.batch_max_ms,
                       extra_consumer_config=consumer_overrides)  # fmt: skip


def run_sink(kind: str) -> int:
    """Run until a signal; returns the process exit code."""
    configure_logging()
    tune_gc()
    ss = SinkSettings()
    loop = build_loop(kind, sink_settings=ss)
    loop.metrics.serve(ss.postgres_metrics_port if kind == "postgres" else ss.redis_metrics_port)

    def stop(signum: int, frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("signal %d: flushing and stopping", signum)
        loop.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    loop.run()
    # Non-zero when shutdown came while the store was down: the last batch was not committed (it is
    # read again on the next start), which a supervisor should know about.
    return 1 if loop.gave_up else 0
