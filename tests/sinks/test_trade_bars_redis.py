"""trades.bars into Redis: each symbol's and interval's ZSET (schemas/redis_layout.py trade_bars)
holds one member per window, the bar's newest version (a version replaces the window's member,
within a batch and across batches), apart from the book bars' keys; a bar that breaks the
contract goes to the DLQ records of the write."""

from __future__ import annotations

import time
import uuid

import orjson
import pytest

from config.clients import redis_client
from schemas.redis_layout import RedisLayout
from schemas.registry import load_schema
from schemas.topics import Topic
from sinks.batching import SinkRecord
from sinks.redis_sink import RedisSink

pytestmark = pytest.mark.integration

_BASE_MS = (int(time.time()) - 600) * 1000


def _bar(window_start: int, trade_count: int, interval: str = "1s") -> dict:
    example = load_schema(Topic.TRADE_BARS)["examples"][0]
    return {**example, "exchange": "tx", "interval": interval, "window_start": window_start,
            "window_end": window_start + 1000, "trade_count": trade_count}  # fmt: skip


def _records(bars: list[dict]) -> list[SinkRecord]:
    return [
        SinkRecord(Topic.TRADE_BARS, Topic.TRADE_BARS.value, 0, i, b"tx:ETHUSDT", orjson.dumps(b), 1)
        for i, b in enumerate(bars)
    ]


def test_each_window_holds_the_newest_version_of_its_bar(redis_settings):
    settings = redis_settings.model_copy(update={"key_prefix": f"t{uuid.uuid4().hex[:10]}"})
    sink, keys = RedisSink(settings), RedisLayout.from_settings(settings)
    client = redis_client(redis_settings, timeout_s=10)
    try:
        first = sink.write_records(_records([_bar(_BASE_MS, 1), _bar(_BASE_MS, 2), _bar(_BASE_MS + 1000, 1)]))
        assert first.stored == {Topic.TRADE_BARS: 3} and not first.dlq
        late = sink.write_records(_records([_bar(_BASE_MS, 3), {**_bar(_BASE_MS + 2000, 1), "open": 1.5}]))
        assert late.stored == {Topic.TRADE_BARS: 1}
        assert [r["reason"] for r in late.dlq] and "open" in late.dlq[0]["reason"]
        members = client.zrange(keys.trade_bars("1s", "tx", "ETHUSDT"), 0, -1, withscores=True)
        assert [(orjson.loads(m)["trade_count"], int(s)) for m, s in members] == [
            (3, _BASE_MS),
            (1, _BASE_MS + 1000),
        ]
        assert not client.exists(keys.bars("1s", "tx", "ETHUSDT")), "apart from the book bars"
    finally:
        client.close()
        sink.close()
