"""The Flink Kafka sinks' delivery options and the isolation level of the sources, from the
settings (issue 13): the DDL options are the connector's own names (flink-sql-connector-kafka
5.0.0-2.2: sink.delivery-guarantee, sink.transactional-id-prefix), one prefix per job and sink,
and a transaction timeout the broker accepts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config import FlinkSettings, KafkaSettings, MetricsJobSettings
from config.clients import ISOLATION_LEVEL, consumer_config
from flink_jobs.connectors import delivery_options, kafka_sink_ddl, kafka_source_ddl
from schemas import Topic

pytestmark = pytest.mark.unit

KAFKA = KafkaSettings(topic_prefix="t1.")


def test_exactly_once_is_the_default_with_a_prefix_per_job_and_sink():
    options = delivery_options(KAFKA, FlinkSettings(), "metrics", Topic.PROCESSED)
    assert options == {
        "sink.delivery-guarantee": "exactly-once",
        "sink.transactional-id-prefix": "obm-metrics-t1.orderbook.processed",
        "properties.transaction.timeout.ms": str(FlinkSettings().kafka_transaction_timeout_ms),
    }
    prefixes = {
        delivery_options(kafka, FlinkSettings(), job, topic)["sink.transactional-id-prefix"]
        for kafka in (KAFKA, KafkaSettings(topic_prefix="t2."))
        for job, topic in (("metrics", Topic.PROCESSED), ("bars", Topic.BARS), ("alerts", Topic.ALERTS))
        for topic in (topic, Topic.DLQ)
    }
    assert len(prefixes) == 12, "every job's sinks (its output and its DLQ), per topic prefix"


def test_the_ddl_carries_the_options():
    ddl = kafka_sink_ddl(
        "sink", Topic.BARS, kafka=KAFKA, flink=FlinkSettings(), producer=MetricsJobSettings(), job="bars"
    )
    assert "'sink.delivery-guarantee' = 'exactly-once'" in ddl
    assert "'sink.transactional-id-prefix' = 'obm-bars-t1.orderbook.bars'" in ddl
    source = kafka_source_ddl("source", Topic.PROCESSED, kafka=KAFKA, flink=FlinkSettings(), group_id="g")
    assert f"'properties.isolation.level' = '{ISOLATION_LEVEL}'" in source


def test_at_least_once_and_jobs_without_checkpoints_use_no_transactions():
    for flink in (FlinkSettings(delivery_guarantee="at-least-once"), FlinkSettings(checkpoint_interval_ms=0)):
        assert delivery_options(KAFKA, flink, "metrics", Topic.PROCESSED) == {
            "sink.delivery-guarantee": "at-least-once"
        }


def test_the_transaction_timeout_outlasts_a_checkpoint_and_fits_the_broker(monkeypatch):
    with pytest.raises(ValidationError, match="must exceed"):
        FlinkSettings(
            checkpoint_interval_ms=60_000, checkpoint_timeout_ms=60_000, kafka_transaction_timeout_ms=120_000
        )
    monkeypatch.setenv("OBM_FLINK_KAFKA_TRANSACTION_TIMEOUT_MS", "1000000")
    with pytest.raises(ValueError, match="transaction.max.timeout.ms"):
        delivery_options(KAFKA, FlinkSettings(), "metrics", Topic.PROCESSED)
    broker = KafkaSettings(transaction_max_timeout_ms=3_600_000)
    assert (
        delivery_options(broker, FlinkSettings(), "metrics", Topic.PROCESSED)["sink.delivery-guarantee"]
        == "exactly-once"
    )


def test_every_consumer_config_reads_committed_records_only():
    assert consumer_config(KAFKA, "g")["isolation.level"] == ISOLATION_LEVEL == "read_committed"
