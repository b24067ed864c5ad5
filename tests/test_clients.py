"""The client builders of config/clients.py: every Kafka and Redis client of the project is
configured from the settings there. Unit tests of the dicts, and the clients against the session's
real broker and Redis."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from config import KafkaSettings, RedisSettings
from config.clients import client_config, consumer_config, producer_config, redis_client
from schemas import Topic, record_key, topic_name

KAFKA = KafkaSettings(bootstrap_servers="broker-a:9092,broker-b:9092")


@pytest.mark.unit
def test_every_kafka_config_starts_from_the_settings_address():
    assert client_config(KAFKA) == {"bootstrap.servers": "broker-a:9092,broker-b:9092"}
    for config in (consumer_config(KAFKA, "g"), producer_config(KAFKA)):
        assert config["bootstrap.servers"] == KAFKA.bootstrap_servers


@pytest.mark.unit
def test_consumers_commit_themselves_and_read_committed_records_only():
    config = consumer_config(KAFKA, "obm-sink-x")
    assert config["group.id"] == "obm-sink-x"
    assert config["enable.auto.commit"] is False
    assert config["isolation.level"] == "read_committed"


@pytest.mark.unit
def test_overrides_win_over_the_defaults_and_are_not_shared_between_calls():
    config = consumer_config(
        KAFKA, "g", {"isolation.level": "read_uncommitted", "auto.offset.reset": "earliest"}
    )
    assert config["isolation.level"] == "read_uncommitted"
    assert config["auto.offset.reset"] == "earliest"
    assert consumer_config(KAFKA, "g")["isolation.level"] == "read_committed"
    assert producer_config(KAFKA)["enable.idempotence"] is True
    assert producer_config(KAFKA, {"linger.ms": 20, "enable.idempotence": False}) == {
        "bootstrap.servers": KAFKA.bootstrap_servers,
        "enable.idempotence": False,
        "linger.ms": 20,
    }


@pytest.mark.unit
def test_the_redis_client_takes_address_database_password_and_timeouts_from_the_call():
    settings = RedisSettings(host="redis-x", port=6390, db=3, password="s3cret")
    kwargs = redis_client(settings, timeout_s=1.5).connection_pool.connection_kwargs
    assert [kwargs[k] for k in ("host", "port", "db", "password")] == ["redis-x", 6390, 3, "s3cret"]
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (1.5, 1.5)
    client = redis_client(RedisSettings(password=None), 10, connect_timeout_s=5, client_name="obm-x")
    kwargs = client.connection_pool.connection_kwargs
    assert [kwargs[k] for k in ("socket_connect_timeout", "client_name", "password")] == [5, "obm-x", None]


@pytest.mark.integration
def test_clients_built_here_round_trip_a_record_on_the_real_broker(kafka_settings):
    kafka = kafka_settings.model_copy(update={"topic_prefix": f"c{uuid.uuid4().hex[:8]}."})
    topic = topic_name(Topic.RAW, kafka.topic_prefix)
    admin = AdminClient(client_config(kafka))
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    producer = Producer(producer_config(kafka))
    producer.produce(topic, b"{}", key=record_key("binance", "BTCUSDT"))
    assert producer.flush(30) == 0
    consumer = Consumer(consumer_config(kafka, f"g{uuid.uuid4().hex[:8]}", {"auto.offset.reset": "earliest"}))
    consumer.subscribe([topic])
    try:
        msg = None
        for _ in range(60):
            msg = consumer.poll(1.0)
            if msg is not None and not msg.error():
                break
        assert msg is not None and not msg.error(), "no record consumed in 60 s"
        assert (msg.key(), msg.value()) == (b"binance:BTCUSDT", b"{}")
    finally:
        consumer.close()


@pytest.mark.integration
def test_the_redis_client_talks_to_the_real_redis(redis_settings):
    client = redis_client(redis_settings, timeout_s=2)
    try:
        assert client.ping()
    finally:
        client.close()
