"""Fixtures of the notifier tests: per-test topics on the session's Kafka (a unique prefix) and the
session's PostgreSQL (init-db.sql applied); receivers and alerts carry a per-test name."""

from __future__ import annotations

import uuid

import pytest
from notify_support import NotifyTestEnv

from config import KafkaSettings, PostgresSettings
from producer.publisher import create_topics_if_absent
from schemas.topics import Topic, topic_name


@pytest.fixture
def notify_env(kafka_settings: KafkaSettings, pg_settings: PostgresSettings) -> NotifyTestEnv:
    tag = uuid.uuid4().hex[:10]
    kafka = kafka_settings.model_copy(update={"topic_prefix": f"t{tag}."})
    create_topics_if_absent(kafka, [topic_name(Topic.ALERTS, kafka.topic_prefix)], partitions=3)
    return NotifyTestEnv(kafka=kafka, pg=pg_settings, exchange=f"x{tag}")
