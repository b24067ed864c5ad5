"""Settings classes, one per service, read from the environment (and `.env`).

Defaults are the ports of the Compose stack, so the embedded stack and Compose are addressed the
same way. Every class has its own prefix (`OBM_KAFKA_…`, `OBM_PG_…`), and credentials are
`SecretStr` so they never show up in a repr or a log line.

Each service's classes live in a module of their own (stack, kafka, storage, flink, alerts, pairs,
producer, sinks, dashboard, gateway, notify); this package re-exports them all, so
`from config.settings import KafkaSettings` is the one way to import a class. A new class goes in
its service's module, here, and in `SETTINGS_CLASSES` (the order of docs/configuration.md).
"""

from __future__ import annotations

from pydantic_settings import BaseSettings

from config.settings.alerts import AlertSettings
from config.settings.base import REPO_ROOT, env_config
from config.settings.dashboard import DashboardSettings
from config.settings.flink import FlinkSettings, MetricsJobSettings
from config.settings.gateway import GatewaySettings
from config.settings.kafka import KafkaSettings
from config.settings.notify import NotifySettings
from config.settings.pairs import PairSettings
from config.settings.producer import ContractSettings, ProducerSettings, SimulatorSettings
from config.settings.sinks import SinkSettings
from config.settings.stack import StackSettings
from config.settings.storage import PostgresSettings, RedisSettings

# Every settings class, in the order the configuration reference (config/reference.py) lists them.
SETTINGS_CLASSES: tuple[type[BaseSettings], ...] = (
    StackSettings,
    KafkaSettings,
    PostgresSettings,
    RedisSettings,
    FlinkSettings,
    MetricsJobSettings,
    AlertSettings,
    PairSettings,
    ProducerSettings,
    SimulatorSettings,
    ContractSettings,
    SinkSettings,
    DashboardSettings,
    GatewaySettings,
    NotifySettings,
)

__all__ = [
    "REPO_ROOT",
    "SETTINGS_CLASSES",
    "AlertSettings",
    "ContractSettings",
    "DashboardSettings",
    "FlinkSettings",
    "GatewaySettings",
    "KafkaSettings",
    "MetricsJobSettings",
    "NotifySettings",
    "PairSettings",
    "PostgresSettings",
    "ProducerSettings",
    "RedisSettings",
    "SimulatorSettings",
    "SinkSettings",
    "StackSettings",
    "env_config",
]
