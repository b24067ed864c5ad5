"""The Redis key layout shared by the Redis sink (writer) and the dashboard (reader).

One module builds every key name so the two sides cannot drift apart; the layout itself is the
storage contract described in docs/storage.md, part of the contract in `schemas/` like the topics.
Values are the JSON records exactly as they came off their topic (UTF-8 bytes), so a reader decodes
them with the topic's schema in mind. The members of the symbols SET are record keys
(`schemas.record_key` / `split_record_key`).

This module depends on nothing but the standard library: the dashboard imports it without pulling in
Kafka or psycopg.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

# Bars kept per symbol and interval: the last hour, counted from the newest bar of that key (not from
# the wall clock, so replayed history is trimmed the same way as live data).
BARS_KEEP_MS = 3_600_000
# Field name of the one field of every entry of the alerts stream.
ALERTS_STREAM_FIELD = "json"
# Internal to the sink: alert ids already written, so a replayed alert is not appended or published
# twice. Score = event_time ms; trimmed to this window.
ALERTS_SEEN_KEEP_MS = 2 * 3_600_000


class _HasKeyPrefix(Protocol):
    key_prefix: str


@dataclass(frozen=True)
class RedisLayout:
    """Key builder; `RedisLayout.from_settings(RedisSettings())` or `RedisLayout("obm")`."""

    prefix: str = "obm"

    @classmethod
    def from_settings(cls, settings: _HasKeyPrefix) -> RedisLayout:
        return cls(settings.key_prefix)

    def _k(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # SET of the record key ("exchange:symbol", schemas.record_key) of every symbol the sink has seen.
    def symbols(self) -> str:
        return self._k("symbols")

    # STRING: JSON of the latest orderbook.processed record, with a TTL (latest_ttl_s).
    def latest(self, exchange: str, symbol: str) -> str:
        return self._k("latest", exchange, symbol)

    # STRING: JSON of the latest orderbook.raw record (the book levels), with a TTL (latest_ttl_s).
    def book(self, exchange: str, symbol: str) -> str:
        return self._k("book", exchange, symbol)

    # ZSET: score = window_start ms, member = JSON bar; the last hour (BARS_KEEP_MS) of that key.
    def bars(self, interval: str, exchange: str, symbol: str) -> str:
        return self._k("bars", interval, exchange, symbol)

    # ZSET: score = window_start ms, member = JSON of the bar's newest version (trades.bars: a bar
    # updated by a late trade replaces its window's member); the last hour (BARS_KEEP_MS) of that key.
    def trade_bars(self, interval: str, exchange: str, symbol: str) -> str:
        return self._k("trade-bars", interval, exchange, symbol)

    # STRING: JSON of the latest pairs.analytics record of one pair (`y/x` of exchange:symbol keys),
    # with a TTL (latest_ttl_s).
    def pair_latest(self, pair: str) -> str:
        return self._k("pairs", "latest", pair)

    # SET of the pair ids the sink has seen (what the dashboard lists).
    def pairs(self) -> str:
        return self._k("pairs")

    # STREAM of alerts (MAXLEN ~ alerts_stream_maxlen), one field ALERTS_STREAM_FIELD = JSON alert.
    def alerts_stream(self) -> str:
        return self._k("alerts")

    # STRING: JSON of the latest alert of one symbol.
    def alerts_last(self, exchange: str, symbol: str) -> str:
        return self._k("alerts", "last", exchange, symbol)

    # Pub/sub channel; every new alert is published here as JSON.
    def alerts_channel(self) -> str:
        return self._k("alerts", "live")

    # STRING: ms timestamp of the Redis sink's last write (the dashboard's health signal).
    def heartbeat(self) -> str:
        return self._k("sink", "heartbeat")

    # Internal to the sink: ZSET of written alert ids (see ALERTS_SEEN_KEEP_MS).
    def alerts_seen(self) -> str:
        return self._k("sink", "alerts-seen")

    # Internal to the sink: present once the sink has refilled this Redis from the topics. A Redis
    # that lost its data (restart without persistence) lacks it, which triggers a refill.
    def refilled_marker(self) -> str:
        return self._k("sink", "refilled")
