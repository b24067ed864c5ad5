"""The Redis sink against a real Kafka and Redis: the layout of the storage contract, idempotent
alerts, and an emptied Redis refilled from the topics without any manual step."""

from __future__ import annotations

import time

import orjson
import pytest
from sink_test_support import ALERT_CONTEXT, wait_for

from config.clients import redis_client
from schemas.redis_layout import ALERTS_STREAM_FIELD, BARS_KEEP_MS, RedisLayout
from schemas.topics import Topic

pytestmark = pytest.mark.integration


@pytest.fixture
def test_redis(redis_settings, sink_env):
    """Settings with a key prefix of this test's own, and a client."""
    rs = redis_settings.model_copy(update={"key_prefix": f"t{sink_env.exchange}"})
    client = redis_client(rs, timeout_s=10)
    return rs, client, RedisLayout.from_settings(rs)


def test_redis_layout_is_written_as_specified(sink_env, test_redis, run_sink_thread):
    rs, r, keys = test_redis
    e = sink_env
    pubsub = r.pubsub()
    pubsub.subscribe(keys.alerts_channel())
    pubsub.get_message(timeout=2)  # the subscribe confirmation
    for i in range(50):
        e.produce(Topic.PROCESSED, e.processed(i, symbol="BTCUSDT"))
        e.produce(Topic.PROCESSED, e.processed(1000 + i, symbol="ETHUSDT"))
    for i in range(3):
        e.produce(Topic.RAW, e.raw(seq=i, event_time=e.base_ms + i))
    newest = e.base_ms + 2 * BARS_KEEP_MS
    old = newest - BARS_KEEP_MS - 5_000  # beyond the hour kept: trimmed
    for ws in (old, newest - 2_000, newest - 1_000, newest):
        e.produce(Topic.BARS, e.bar(ws))
    e.produce(Topic.BARS, e.bar(newest, interval="1m"))
    alert1, alert2 = e.alert(1), e.alert(2, symbol="ETHUSDT", context=ALERT_CONTEXT)  # without / with context
    for a in (alert1, alert2, alert1):  # the third one is a replay: it must not show twice
        e.produce(Topic.ALERTS, a)
    e.produce(Topic.PROCESSED, b"{broken", key=f"{e.exchange}:BTCUSDT")  # skipped, not fatal
    e.flush()
    before_ms = int(time.time() * 1000)
    sink = run_sink_thread("redis", e, redis_settings=rs)
    wait_for("alerts stream", lambda: r.xlen(keys.alerts_stream()) >= 2)
    wait_for("bars", lambda: r.zcard(keys.bars("1s", e.exchange, "BTCUSDT")) == 3)
    wait_for("latest", lambda: r.exists(keys.latest(e.exchange, "ETHUSDT")))
    # Every record produced above read and accounted for (written, deduplicated or rejected), so
    # what follows sees the sink's final state; a fixed sleep here lost the race to the broken
    # record on a loaded machine (its reject not yet counted when the sink stopped).
    produced = {Topic.PROCESSED: 101, Topic.RAW: 3, Topic.BARS: 5, Topic.ALERTS: 3}
    wait_for("every record consumed", lambda: all(
        sink.loop.metrics.value("obm_sink_records_consumed_total", topic=t.value) >= n for t, n in produced.items()))  # fmt: skip
    sink.stop()

    assert {m.decode() for m in r.smembers(keys.symbols())} == {
        f"{e.exchange}:BTCUSDT",
        f"{e.exchange}:ETHUSDT",
    }
    latest = orjson.loads(r.get(keys.latest(e.exchange, "BTCUSDT")))
    assert latest["sequence_id"] == 49 and latest["exchange"] == e.exchange
    assert orjson.loads(r.get(keys.latest(e.exchange, "ETHUSDT")))["sequence_id"] == 1049
    assert 0 < r.ttl(keys.latest(e.exchange, "BTCUSDT")) <= rs.latest_ttl_s
    book = orjson.loads(r.get(keys.book(e.exchange, "BTCUSDT")))
    assert book["sequence_id"] == 2 and book["bid_prices"] == [100.0, 99.5]
    assert 0 < r.ttl(keys.book(e.exchange, "BTCUSDT")) <= rs.latest_ttl_s

    bars = r.zrange(keys.bars("1s", e.exchange, "BTCUSDT"), 0, -1, withscores=True)
    assert [int(s) for _, s in bars] == [newest - 2_000, newest - 1_000, newest]
    assert orjson.loads(bars[-1][0])["window_start"] == newest
    assert r.zcard(keys.bars("1m", e.exchange, "BTCUSDT")) == 1

    entries = r.xrange(keys.alerts_stream())
    # two symbols, two partitions: no order between them, but each alert exactly once
    assert sorted(orjson.loads(fields[ALERTS_STREAM_FIELD.encode()])["alert_id"] for _, fields in entries) == sorted(
        [alert1["alert_id"], alert2["alert_id"]])  # fmt: skip
    # the records as they came, the context of the one that has one included
    assert sorted((orjson.loads(fields[ALERTS_STREAM_FIELD.encode()]) for _, fields in entries),
                  key=lambda a: a["alert_id"]) == sorted([alert1, alert2], key=lambda a: a["alert_id"])  # fmt: skip
    assert orjson.loads(r.get(keys.alerts_last(e.exchange, "ETHUSDT"))) == alert2
    assert orjson.loads(r.get(keys.alerts_last(e.exchange, "BTCUSDT"))) == alert1
    published = []
    while (msg := pubsub.get_message(timeout=1)) is not None:
        if msg["type"] == "message":
            published.append(orjson.loads(msg["data"])["alert_id"])
    assert sorted(published) == sorted([alert1["alert_id"], alert2["alert_id"]])
    assert int(r.get(keys.heartbeat())) >= before_ms
    assert sink.loop.metrics.value("obm_sink_records_rejected_total", topic="orderbook.processed",
                                   reason="not_json") == 1  # fmt: skip


def test_a_restarted_empty_redis_is_refilled_from_the_topics(
    sink_env, test_redis, redis_server, run_sink_thread
):
    rs, r, keys = test_redis
    e = sink_env
    now = int(time.time() * 1000)
    for i in range(20):
        e.produce(Topic.BARS, e.bar(now - (20 - i) * 1_000))
        e.produce(Topic.PROCESSED, e.processed(i, event_time=now - 20 + i))
    e.produce(Topic.ALERTS, e.alert(1, event_time=now - 5_000))
    e.produce(Topic.ALERTS, e.alert(2, event_time=now - 1_000))
    e.flush()
    sink = run_sink_thread("redis", e, redis_settings=rs)
    bars_key = keys.bars("1s", e.exchange, "BTCUSDT")
    wait_for("bars written", lambda: r.zcard(bars_key) == 20)
    wait_for("alerts written", lambda: r.xlen(keys.alerts_stream()) == 2)

    redis_server.stop()
    redis_server.start()  # not persistent: it comes back empty
    assert r.zcard(bars_key) == 0
    # no new records are produced: the idle sink notices the empty Redis and replays the topics
    wait_for("bars refilled", lambda: r.zcard(bars_key) == 20, timeout_s=60)
    wait_for("alerts refilled", lambda: r.xlen(keys.alerts_stream()) == 2, timeout_s=30)
    assert orjson.loads(r.get(keys.latest(e.exchange, "BTCUSDT")))["sequence_id"] == 19
    assert f"{e.exchange}:BTCUSDT".encode() in r.smembers(keys.symbols())
    assert r.exists(keys.alerts_last(e.exchange, "BTCUSDT"))
    sink.stop()
