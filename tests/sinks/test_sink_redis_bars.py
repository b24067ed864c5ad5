"""The Redis sink's bars script must leave exactly the state of the plain command sequence it
replaces (per bar ZREMRANGEBYSCORE score score + ZADD, then per key and batch the trim to the hour
before its newest bar and PEXPIRE), for replaced windows, replays, duplicates within a batch, out of
order bars, bars older than the hour and batches larger than one command takes; and a new bar must
cost one ZADD, a replaced window one ZREM more, with no no-op writes."""

from __future__ import annotations

import random
import time
import uuid

import orjson
import pytest
import redis

from config.clients import redis_client
from schemas.redis_layout import BARS_KEEP_MS, RedisLayout
from schemas.topics import Topic
from sinks.batching import SinkRecord
from sinks.redis_sink import RedisSink

pytestmark = pytest.mark.integration

# Windows from three hours before the test: within the contract's event-time bounds (the windows
# below spread over at most ~1.7 hours after it).
_BASE_MS = (int(time.time()) - 3 * 3600) * 1000


def _bar(symbol: str, window_start: int, close: float) -> dict:
    return {"schema_version": 1, "exchange": "bx", "market": "spot", "symbol": symbol, "interval": "1s",
            "window_start": window_start, "window_end": window_start + 1000, "mid_open": 1.0, "mid_high": 2.0,
            "mid_low": 0.5, "mid_close": close, "update_count": 3}  # fmt: skip


def _reference(client: redis.Redis, keys: RedisLayout, batch: list[dict]) -> None:
    """The old pipeline: what the script must reproduce."""
    pipe = client.pipeline(transaction=False)
    newest: dict[str, int] = {}
    for bar in batch:
        key = keys.bars(bar["interval"], bar["exchange"], bar["symbol"])
        pipe.zremrangebyscore(key, bar["window_start"], bar["window_start"])
        pipe.zadd(key, {orjson.dumps(bar): bar["window_start"]})
        newest[key] = max(bar["window_start"], newest.get(key, 0))
    for key, top in newest.items():
        pipe.zremrangebyscore(key, "-inf", f"({top - BARS_KEEP_MS}")
        pipe.pexpire(key, BARS_KEEP_MS)
    pipe.execute()


def _state(client: redis.Redis, keys: RedisLayout, symbols: list[str]) -> dict:
    return {s: client.zrange(keys.bars("1s", "bx", s), 0, -1, withscores=True) for s in symbols}


def test_bars_script_leaves_the_state_of_the_plain_commands(redis_settings):
    tag = uuid.uuid4().hex[:8]
    ours = redis_settings.model_copy(update={"key_prefix": f"t{tag}a"})
    ref_keys = RedisLayout(f"t{tag}b")
    sink = RedisSink(ours)
    client = redis_client(redis_settings, timeout_s=10)
    rng = random.Random(4)
    symbols = ["AAUSDT", "BBUSDT", "CCUSDT"]
    base = _BASE_MS
    offset = 0
    for round_ in range(12):
        batch = []
        for _ in range(rng.randint(1, 80)):
            # windows spread over ~1.5 h, so trims happen; few distinct closes, so replays and
            # replaced windows (same window_start, other content) both occur
            ws = base + rng.randint(0, 5400) * 1000 + round_ * 60_000
            batch.append(_bar(rng.choice(symbols), ws, rng.choice([1.0, 1.5])))
        _reference(client, ref_keys, batch)
        recs = [
            SinkRecord(Topic.BARS, "orderbook.bars", 0, offset + i, b"k", orjson.dumps(b), 1)
            for i, b in enumerate(batch)
        ]
        offset += len(batch)
        result = sink.write_records(recs)
        assert result.stored == {Topic.BARS: len(batch)}
        assert _state(client, sink.keys, symbols) == _state(client, ref_keys, symbols)
    for s in symbols:
        assert 0 < client.pttl(sink.keys.bars("1s", "bx", s)) <= BARS_KEEP_MS
    sink.close()


def test_a_new_bar_costs_one_write_and_a_replaced_window_two(redis_settings):
    tag = uuid.uuid4().hex[:8]
    sink = RedisSink(redis_settings.model_copy(update={"key_prefix": f"t{tag}"}))
    client = redis_client(redis_settings, timeout_s=10)
    key = sink.keys.bars("1s", "bx", "AAUSDT")
    ws = _BASE_MS

    def write(bar: dict) -> None:
        sink.write_records([SinkRecord(Topic.BARS, "orderbook.bars", 0, 0, b"k", orjson.dumps(bar), 1)])

    write(_bar("AAUSDT", ws, 1.0))
    client.config_resetstat()
    write(_bar("AAUSDT", ws + 1000, 1.0))  # a new window: one ZADD (+ the key's trim and expiry)
    stats = client.info("commandstats")
    assert stats["cmdstat_zadd"]["calls"] == 1 and "cmdstat_zrem" not in stats
    write(_bar("AAUSDT", ws + 1000, 2.0))  # the same window, new content: the old member goes
    stats = client.info("commandstats")
    assert stats["cmdstat_zadd"]["calls"] == 2 and stats["cmdstat_zrem"]["calls"] == 1
    members = client.zrange(key, 0, -1, withscores=True)
    assert [orjson.loads(m)["mid_close"] for m, _ in members] == [1.0, 2.0]
    sink.close()


def test_large_batches_replacing_many_windows_match_the_plain_commands(redis_settings):
    """More bars per key than the script passes to one ZADD or ZREM (it splits them)."""
    tag = uuid.uuid4().hex[:8]
    sink = RedisSink(redis_settings.model_copy(update={"key_prefix": f"t{tag}a"}))
    ref_keys = RedisLayout(f"t{tag}b")
    client = redis_client(redis_settings, timeout_s=10)
    base = _BASE_MS
    for close in (1.0, 2.0, 2.0):  # new windows, then all of them replaced, then an exact replay
        batch = [_bar("AAUSDT", base + i * 1000, close) for i in range(2500)]
        _reference(client, ref_keys, batch)
        sink.write_records([SinkRecord(Topic.BARS, "orderbook.bars", 0, i, b"k", orjson.dumps(b), 1)
                            for i, b in enumerate(batch)])  # fmt: skip
        assert _state(client, sink.keys, ["AAUSDT"]) == _state(client, ref_keys, ["AAUSDT"])
    assert client.zcard(sink.keys.bars("1s", "bx", "AAUSDT")) == 2500
    sink.close()
