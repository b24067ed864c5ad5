"""Topic names and the message key. Every record is keyed by `exchange:symbol`, so one symbol's
records stay in order on one partition."""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    RAW = "orderbook.raw"
    PROCESSED = "orderbook.processed"
    ALERTS = "orderbook.alerts"
    BARS = "orderbook.bars"
    DLQ = "orderbook.dlq"


ALL_TOPICS: tuple[Topic, ...] = tuple(Topic)


def record_key(exchange: str, symbol: str) -> str:
    return f"{exchange}:{symbol}"
