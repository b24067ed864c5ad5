"""The latest values Redis holds (written by the Redis sink, layout schemas/redis_layout.py), read
when a client subscribes to keys the gateway has not relayed since it started. Blocking redis-py
calls: the server runs them in a worker thread."""

from __future__ import annotations

from typing import Any

import orjson
import redis

from config import RedisSettings
from config.clients import redis_client
from gateway.protocol import Channel
from schemas.redis_layout import RedisLayout
from schemas.registry import load_schema
from schemas.topics import Topic, split_record_key

# The bar intervals, as the bars topic's schema lists them.
BAR_INTERVALS: tuple[str, ...] = tuple(load_schema(Topic.BARS)["properties"]["interval"]["enum"])


class RedisSnapshots:
    errors = (redis.RedisError, OSError)

    def __init__(self, settings: RedisSettings, timeout_s: float) -> None:
        self.layout = RedisLayout.from_settings(settings)
        self.client = redis_client(settings, timeout_s=timeout_s)

    def close(self) -> None:
        self.client.close()

    def known_keys(self) -> set[str]:
        """The record keys of every symbol the Redis sink has seen."""
        members: set[bytes] = self.client.smembers(self.layout.symbols())  # type: ignore[assignment]
        return {m.decode() for m in members}

    def latest(self, channel: Channel, keys: list[str]) -> dict[str, list[Any]]:
        """Per key, the records Redis holds as that channel's latest value (keys without one left
        out): one pipeline round trip for all keys."""
        pipe = self.client.pipeline(transaction=False)
        shape: list[tuple[str, int]] = []
        for key in keys:
            exchange, symbol = split_record_key(key)
            if channel is Channel.BARS:
                for interval in BAR_INTERVALS:
                    pipe.zrange(self.layout.bars(interval, exchange, symbol), -1, -1)
                shape.append((key, len(BAR_INTERVALS)))
                continue
            if channel is Channel.BOOK:
                pipe.get(self.layout.book(exchange, symbol))
            elif channel is Channel.METRICS:
                pipe.get(self.layout.latest(exchange, symbol))
            else:
                pipe.get(self.layout.alerts_last(exchange, symbol))
            shape.append((key, 1))
        replies = iter(pipe.execute())
        out: dict[str, list[Any]] = {}
        for key, count in shape:
            values = [next(replies) for _ in range(count)]
            if channel is Channel.BARS:
                records = [orjson.loads(v[0]) for v in values if v]
                records.sort(key=lambda bar: bar["window_start"])
            else:
                records = [orjson.loads(v) for v in values if v]
            if records:
                out[key] = records
        return out
