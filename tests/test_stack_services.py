"""The embedded stack's services really run: each answers on its port, and survives a restart
with its state (what `obm up` relies on for 'a second up reuses state')."""

from __future__ import annotations

import psycopg
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from config.clients import client_config, consumer_config, producer_config
from flink_jobs.flink_rest import FlinkRest
from obm.stack.health import free_port

pytestmark = pytest.mark.integration


def test_kafka_has_every_topic_with_configured_partitions(kafka_broker):
    from obm.operator.topic_policy import TOPIC_POLICIES
    from schemas import ALL_TOPICS

    md = AdminClient(client_config(kafka_broker.settings)).list_topics(timeout=10)
    for topic in ALL_TOPICS:
        assert topic.value in md.topics
        expected = TOPIC_POLICIES[topic].partition_count(kafka_broker.settings)
        assert len(md.topics[topic.value].partitions) == expected
    assert len(md.topics["orderbook.raw"].partitions) == kafka_broker.settings.partitions


def test_kafka_round_trip_keeps_key_order(kafka_settings):
    topic = "test.roundtrip"
    p = Producer(producer_config(kafka_settings))
    for i in range(50):
        p.produce(topic, key=b"binance:BTCUSDT", value=str(i).encode())
    assert p.flush(30) == 0
    c = Consumer(consumer_config(kafka_settings, "t", {"auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    got: list[int] = []
    while len(got) < 50:
        m = c.poll(10)
        assert m is not None, f"timed out after {len(got)} records"
        if m.error():
            continue
        got.append(int(m.value()))
    c.close()
    assert got == list(range(50))


def test_postgres_runs_init_db_and_keeps_data_across_restart(pg_server):
    with psycopg.connect(pg_server.settings.conninfo(), autocommit=True) as conn:
        conn.execute("create table if not exists restart_probe (v int)")
        conn.execute("insert into restart_probe values (42)")
    pg_server.stop()
    assert not pg_server.healthy()
    pg_server.start()
    with psycopg.connect(pg_server.settings.conninfo()) as conn:
        assert conn.execute("select v from restart_probe").fetchall() == [(42,)]
        conn.execute("drop table restart_probe")


def test_redis_answers(redis_server):
    r = redis_server.client()
    r.set("probe", "1")
    assert r.get("probe") == b"1"


def test_flink_session_cluster_has_a_taskmanager_with_slots(flink_settings):
    overview = FlinkRest.of(flink_settings).get("/overview")
    assert overview["taskmanagers"] == 1
    assert overview["slots-total"] >= 3
    assert overview["flink-version"] == "2.2.1"


def test_status_by_endpoints_sees_services_it_did_not_start(
    kafka_settings, pg_settings, redis_settings, tmp_path
):
    """`obm status --compose` probes addresses only: services running elsewhere (containers) count as
    healthy, and a service nobody runs counts as down."""
    from config import StackSettings
    from obm.stack.supervisor import StackConfig, status

    cfg = StackConfig(
        stack=StackSettings(state_dir=tmp_path),
        kafka=kafka_settings,
        postgres=pg_settings,
        redis=redis_settings,
        live=True,
    )
    cfg.producer = cfg.producer.model_copy(update={"metrics_port": free_port()})
    rows = {row.name: row.ok for row in status(cfg, endpoints_only=True)}
    assert rows["kafka"] and rows["postgres"] and rows["redis"]
    assert not rows["producer"]
    assert "simulator" not in rows
