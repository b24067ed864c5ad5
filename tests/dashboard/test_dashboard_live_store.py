"""LiveStore against the session's real Redis, seeded through the Redis sink itself."""

from __future__ import annotations

import time

import pytest

from bench import dashboard_seed as seed
from config import RedisSettings
from dashboard.health import Status, check_redis
from dashboard.live_store import LiveStore, LiveUnavailable
from obm.stack.health import free_port
from schemas.redis_layout import RedisLayout

pytestmark = pytest.mark.integration


def _tape(symbol: str, seconds: int = 120):
    now = int(time.time()) * 1000
    return seed.make_tape(symbol, now - seconds * 1000, seconds, 100.0, seed=5)


def test_reads_what_the_redis_sink_wrote(redis_prefix: RedisSettings, new_symbol):
    a, b = _tape(new_symbol()), _tape(new_symbol())
    book = seed.book_at(a, 119)
    alerts = [seed.alert(a, 10, "low"), seed.alert(a, 50, "high"), seed.alert(b, 30, "medium")]
    seed.store_redis(
        redis_prefix,
        metrics=[
            seed.processed_of(seed.book_at(a, 118)),
            seed.processed_of(book),
            seed.processed_of(seed.book_at(b, 119)),
        ],
        books=[book],
        bars=seed.bars_of(a),
        alerts=alerts,
    )
    live = LiveStore(redis_prefix)

    assert live.symbols() == sorted([a.key, b.key])
    latest = live.latest_many([a.key, b.key, "binance:NOPEUSDT"])
    assert latest[a.key]["sequence_id"] == book["sequence_id"]  # the newest of the two
    assert latest[a.key]["imbalance_5"] == pytest.approx(seed.processed_of(book)["imbalance_5"])
    assert latest["binance:NOPEUSDT"] is None
    assert live.book(a.key)["bid_prices"] == book["bid_prices"]
    assert live.book(b.key) is None

    # Bars by window start, half-open, oldest first.
    since, until = a.start_ms + 100_000, a.start_ms + 110_000
    bars = live.bars(a.key, "1s", since, until)
    assert [bar["window_start"] for bar in bars] == list(range(since, until, 1000))

    # The stream newest first; the last alert per symbol.
    recent = live.recent_alerts(10)
    assert [x["alert_id"] for x in recent] == [x["alert_id"] for x in reversed(alerts)]
    assert live.recent_alerts(1)[0]["alert_id"] == alerts[-1]["alert_id"]
    last = live.last_alerts_many([a.key, b.key])
    assert last[a.key]["severity"] == "high" and last[b.key]["severity"] == "medium"
    assert check_redis(live, int(time.time() * 1000)).status is Status.UP  # the sink's heartbeat


def test_expired_latest_values_read_as_missing(redis_prefix, new_symbol):
    settings = redis_prefix.model_copy(update={"latest_ttl_s": 1})
    tape = _tape(new_symbol())
    seed.store_redis(settings, metrics=[seed.processed_of(seed.book_at(tape, 1))])
    live = LiveStore(settings)
    assert live.latest_many([tape.key])[tape.key] is not None
    deadline = time.monotonic() + 5
    while live.latest_many([tape.key])[tape.key] is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live.latest_many([tape.key])[tape.key] is None
    assert live.symbols() == [tape.key]  # the symbol stays listed: the overview shows it as expired


def test_health_reports_the_sink_heartbeat(redis_prefix, redis_client):
    keys = RedisLayout.from_settings(redis_prefix)
    live = LiveStore(redis_prefix)
    now = int(time.time() * 1000)
    assert check_redis(live, now).status is Status.DEGRADED  # no heartbeat yet
    redis_client.set(keys.heartbeat(), now - 500)
    status = check_redis(live, now)
    assert status.status is Status.UP and "sink wrote" in status.detail
    redis_client.set(keys.heartbeat(), now - 60_000)
    assert check_redis(live, now).status is Status.DEGRADED


def test_unreachable_redis_raises_live_unavailable():
    live = LiveStore(RedisSettings(port=free_port()), timeout_s=0.5)
    with pytest.raises(LiveUnavailable):
        live.symbols()
    with pytest.raises(LiveUnavailable):
        live.latest_many(["binance:BTCUSDT"])
    status = check_redis(live, int(time.time() * 1000))
    assert status.status is Status.DOWN and not status.up
