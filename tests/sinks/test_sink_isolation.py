"""What each sink reads of the Flink jobs' Kafka transactions (exactly-once outputs, issue 13).

The Redis sink keeps latest values and alerts deduplicated by id, so it reads records of open
transactions (config.clients.LATEST_VALUE_ISOLATION_LEVEL): the live values do not wait for the
jobs' next checkpoint. The PostgreSQL sink keeps the history and reads committed records only. A
transaction that is aborted (a TaskManager lost before its checkpoint) is written again, the same,
by the recovered job: Redis shows it once, PostgreSQL stores only the committed copy."""

from __future__ import annotations

import uuid

import orjson
import psycopg
import pytest
from confluent_kafka import Producer
from sink_test_support import wait_for

from config.clients import producer_config, redis_client
from schemas.redis_layout import ALERTS_STREAM_FIELD, RedisLayout
from schemas.topics import Topic

pytestmark = pytest.mark.integration


def _metric_rows(pg, exchange: str) -> list[int]:
    with psycopg.connect(pg.conninfo(), connect_timeout=3) as conn:
        rows = conn.execute("select sequence_id from orderbook_metrics where exchange = %s", (exchange,))
        return [r[0] for r in rows.fetchall()]


def test_redis_sees_open_transactions_postgres_only_committed_ones(
    sink_env, redis_settings, pg_settings, run_sink_thread
):
    e = sink_env
    rs = redis_settings.model_copy(update={"key_prefix": f"t{e.exchange}"})
    r, keys = redis_client(rs, timeout_s=10), RedisLayout.from_settings(rs)
    metric, alert = e.processed(7), e.alert(1)
    key = f"{e.exchange}:BTCUSDT"

    job = Producer(producer_config(e.kafka, {"transactional.id": f"test-job-{uuid.uuid4().hex}"}))
    job.init_transactions(30)
    job.begin_transaction()
    job.produce(e.topic(Topic.PROCESSED), orjson.dumps(metric), key=key)
    job.produce(e.topic(Topic.ALERTS), orjson.dumps(alert), key=key)
    job.flush(30)

    redis_sink = run_sink_thread("redis", e, redis_settings=rs)
    wait_for("the open transaction's value in Redis", lambda: r.exists(keys.latest(e.exchange, "BTCUSDT")))
    wait_for("the open transaction's alert in Redis", lambda: r.xlen(keys.alerts_stream()) == 1)

    # the job fails before its checkpoint, recovers and writes the same records again, committed
    job.abort_transaction(30)
    job.begin_transaction()
    job.produce(e.topic(Topic.PROCESSED), orjson.dumps(metric), key=key)
    job.produce(e.topic(Topic.ALERTS), orjson.dumps(alert), key=key)
    job.produce(e.topic(Topic.PROCESSED), orjson.dumps(e.processed(8)), key=key)
    job.commit_transaction(30)

    run_sink_thread("postgres", e, pg=pg_settings)
    wait_for("the committed records in PostgreSQL", lambda: len(_metric_rows(pg_settings, e.exchange)) >= 2)
    wait_for(
        "the newest value in Redis",
        lambda: orjson.loads(r.get(keys.latest(e.exchange, "BTCUSDT")))["sequence_id"] == 8,
    )
    redis_sink.stop()

    assert sorted(_metric_rows(pg_settings, e.exchange)) == [7, 8]  # the aborted copy is not history
    entries = r.xrange(keys.alerts_stream())
    assert [orjson.loads(f[ALERTS_STREAM_FIELD.encode()])["alert_id"] for _, f in entries] == [
        alert["alert_id"]
    ]
