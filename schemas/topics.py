"""Topic names and the message key. Every record is keyed by `exchange:symbol`, so one symbol's
records stay in order on one partition. Every component builds and splits keys with the two
functions here, so the key's spelling is defined once."""

from __future__ import annotations

from enum import StrEnum


class Topic(StrEnum):
    RAW = "orderbook.raw"
    PROCESSED = "orderbook.processed"
    ALERTS = "orderbook.alerts"
    BARS = "orderbook.bars"
    DLQ = "orderbook.dlq"
    # Trades of every venue, and the OHLCV bars the trade_bars job makes of them (issue 15).
    TRADES = "trades.raw"
    TRADE_BARS = "trades.bars"
    # Pair analytics on the 1 s closes of trades.bars, keyed by the pair y/x (issue 15).
    PAIRS = "pairs.analytics"
    # The current version of every user alert rule, compacted, keyed by rule id (issue 15).
    RULES = "rules.changes"


ALL_TOPICS: tuple[Topic, ...] = tuple(Topic)

KEY_SEPARATOR = ":"


def record_key(exchange: str, symbol: str) -> str:
    return f"{exchange}{KEY_SEPARATOR}{symbol}"


def split_record_key(key: str | bytes) -> tuple[str, str]:
    """Inverse of record_key: `binance:BTCUSDT` -> ("binance", "BTCUSDT"). Keys come from Kafka
    and Redis as bytes or text; anything that is not exactly two non-empty parts raises ValueError
    naming the key, so a malformed key is reported, never read as an empty exchange or symbol."""
    if isinstance(key, bytes):
        try:
            key = key.decode()
        except UnicodeDecodeError:
            raise ValueError(f"not an exchange:symbol key (not UTF-8): {key!r}") from None
    exchange, sep, symbol = key.partition(KEY_SEPARATOR)
    if not sep or not exchange or not symbol or KEY_SEPARATOR in symbol:
        raise ValueError(f"not an exchange:symbol key: {key!r}")
    return exchange, symbol


def topic_name(topic: Topic, prefix: str = "") -> str:
    """A contract topic's name on the broker: the contract's name behind the deployment's prefix
    (KafkaSettings.topic_prefix, empty in production; tests and side-by-side stacks on one broker
    isolate their topics with it)."""
    return f"{prefix}{topic.value}"
