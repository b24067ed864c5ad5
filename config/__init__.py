"""Typed configuration for every service: one pydantic-settings class per service, each with its
own environment prefix, so an address or credential lives in exactly one place."""

from config.settings import (
    AlertSettings,
    ContractSettings,
    DashboardSettings,
    FlinkSettings,
    GatewaySettings,
    KafkaSettings,
    MetricsJobSettings,
    PairSettings,
    PostgresSettings,
    ProducerSettings,
    RedisSettings,
    SimulatorSettings,
    SinkSettings,
    StackSettings,
)

__all__ = [
    "AlertSettings",
    "ContractSettings",
    "DashboardSettings",
    "FlinkSettings",
    "GatewaySettings",
    "KafkaSettings",
    "MetricsJobSettings",
    "PairSettings",
    "PostgresSettings",
    "ProducerSettings",
    "RedisSettings",
    "SimulatorSettings",
    "SinkSettings",
    "StackSettings",
]
