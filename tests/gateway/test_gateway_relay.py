"""The gateway on real Kafka and Redis: snapshots at subscription (from Redis and from its own
memory), every update in order per key with contiguous sequence numbers, wildcards, unsubscribe,
records that break the contract skipped, /healthz and /metrics."""

from __future__ import annotations

import urllib.request
import uuid

import orjson
import pytest
from confluent_kafka import Producer
from conftest import GatewayTestEnv
from gateway_client import TestClient, updates, wait_until

from config.clients import producer_config, redis_client
from gateway.fanin import DUPLICATE_ALERT
from gateway.protocol import Channel
from schemas.redis_layout import RedisLayout
from schemas.topics import record_key, topic_name

pytestmark = pytest.mark.integration


def relayed(gw, channel: Channel) -> float:  # type: ignore[no-untyped-def]
    return gw.metrics.value("obm_gateway_records_in_total", channel=channel.value)


def test_snapshot_from_redis_then_every_update_in_order(gw_env: GatewayTestEnv, start_gateway) -> None:  # type: ignore[no-untyped-def]
    layout = RedisLayout.from_settings(gw_env.redis)
    seeded = gw_env.processed(999, "ETHUSDT")
    r = redis_client(gw_env.redis, timeout_s=5)
    r.set(layout.latest(gw_env.exchange, "ETHUSDT"), orjson.dumps(seeded))
    r.sadd(layout.symbols(), record_key(gw_env.exchange, "ETHUSDT"))
    gw = start_gateway()
    client = TestClient(gw.url)
    ack = client.request("subscribe", "metrics", [f"{gw_env.exchange}:*"])
    eth, btc = record_key(gw_env.exchange, "ETHUSDT"), record_key(gw_env.exchange, "BTCUSDT")
    assert ack["type"] == "subscribed" and ack["keys"] == [eth] and ack["snapshot_complete"] is True
    snapshot = client.recv()
    assert snapshot == {"type": "snapshot", "channel": "metrics", "key": eth, "seq": 0, "records": [seeded]}

    for seq in range(1, 61):
        gw_env.produce(Channel.METRICS, gw_env.processed(seq, "ETHUSDT"))
        gw_env.produce(Channel.METRICS, gw_env.processed(seq, "BTCUSDT"))
    gw_env.flush()
    got = client.collect(lambda ms: len(updates(ms, "metrics")) >= 120)
    for key in (eth, btc):
        mine = updates(got, "metrics", key)
        assert [m["seq"] for m in mine] == list(range(1, 61)), key
        assert [m["data"]["sequence_id"] for m in mine] == list(range(1, 61)), key
        assert all(isinstance(m["ts"], int) and m["ts"] > 0 for m in mine)
    client.close()


def test_book_snapshot_from_memory_carries_its_seq_and_the_top_levels(
    gw_env: GatewayTestEnv, start_gateway
) -> None:  # type: ignore[no-untyped-def]
    gw = start_gateway(book_levels=3)
    for seq in range(5):
        gw_env.produce(Channel.BOOK, gw_env.book(seq, levels=20))
    gw_env.flush()
    wait_until("5 books relayed", lambda: relayed(gw, Channel.BOOK) >= 5)
    client = TestClient(gw.url)
    key = record_key(gw_env.exchange, "BTCUSDT")
    ack = client.request("subscribe", "book", [key])
    assert ack["keys"] == [key]
    snapshot = client.recv()
    assert snapshot["type"] == "snapshot" and snapshot["seq"] == 5
    (book,) = snapshot["records"]
    assert book["sequence_id"] == 4 and len(book["bid_prices"]) == 3 and len(book["ask_sizes"]) == 3
    gw_env.produce(Channel.BOOK, gw_env.book(5, levels=20))
    gw_env.flush()
    (update,) = client.collect(lambda ms: len(updates(ms, "book")) >= 1)
    assert (
        update["seq"] == 6 and update["data"]["sequence_id"] == 5 and len(update["data"]["bid_prices"]) == 3
    )
    client.close()


def test_wildcards_select_exchanges_and_symbols(gw_env: GatewayTestEnv, start_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = start_gateway()
    other = f"y{gw_env.exchange[1:]}"
    by_exchange, by_symbol, everything = TestClient(gw.url), TestClient(gw.url), TestClient(gw.url)
    by_exchange.request("subscribe", "metrics", [f"{gw_env.exchange}:*"])
    by_symbol.request("subscribe", "metrics", ["*:SOLUSDT"])
    everything.request("subscribe", "metrics", ["*"])
    sent = [(ex, sym) for ex in (gw_env.exchange, other) for sym in ("BTCUSDT", "SOLUSDT")]
    for ex, sym in sent:
        gw_env.produce(Channel.METRICS, gw_env.processed(1, sym, exchange=ex))
    gw_env.flush()
    keys = lambda ms: sorted(m["key"] for m in updates(ms, "metrics"))  # noqa: E731
    assert keys(everything.collect(lambda ms: len(ms) >= 4)) == sorted(record_key(*s) for s in sent)
    wait_until("4 records relayed", lambda: relayed(gw, Channel.METRICS) >= 4)
    # a reply queued after the relay proves nothing else was queued for these two before it
    for client in (by_exchange, by_symbol):
        client.request("subscribe", "alerts", ["none:NONE"], request_id=9)
    assert keys(by_exchange.seen) == [record_key(gw_env.exchange, s) for s in ("BTCUSDT", "SOLUSDT")]
    assert keys(by_symbol.seen) == sorted(record_key(ex, "SOLUSDT") for ex in (gw_env.exchange, other))


def test_unsubscribe_stops_updates_of_that_pattern_only(gw_env: GatewayTestEnv, start_gateway) -> None:  # type: ignore[no-untyped-def]
    gw = start_gateway()
    client = TestClient(gw.url)
    btc, sol = record_key(gw_env.exchange, "BTCUSDT"), record_key(gw_env.exchange, "SOLUSDT")
    client.request("subscribe", "metrics", [btc, sol])
    gw_env.produce(Channel.METRICS, gw_env.processed(1, "BTCUSDT"))
    gw_env.flush()
    client.collect(lambda ms: len(updates(ms, "metrics")) >= 1)
    ack = client.request("unsubscribe", "metrics", [btc], request_id=2)
    assert ack["type"] == "unsubscribed" and ack["keys"] == [btc]
    for seq in range(2, 12):
        gw_env.produce(Channel.METRICS, gw_env.processed(seq, "BTCUSDT"))
    gw_env.produce(Channel.METRICS, gw_env.processed(2, "SOLUSDT"))
    gw_env.flush()
    wait_until("12 records relayed", lambda: relayed(gw, Channel.METRICS) >= 12)
    client.request("subscribe", "alerts", ["none:NONE"], request_id=3)
    after = client.seen[client.seen.index(ack) + 1 :]
    assert [m["key"] for m in updates(after, "metrics")] == [sol]


def test_bars_snapshot_per_interval_and_contract_breakers_skipped(
    gw_env: GatewayTestEnv, start_gateway
) -> None:  # type: ignore[no-untyped-def]
    gw = start_gateway()
    now = wait_until("clock", lambda: __import__("time").time_ns() // 1_000_000)
    start = now - now % 60_000 - 60_000
    gw_env.produce(Channel.BARS, gw_env.bar(start, "1m"))
    gw_env.produce(Channel.BARS, gw_env.bar(start + 59_000, "1s"))
    bad = gw_env.bar(start + 1000, "1s")
    bad["update_count"] = -1  # breaks the schema: skipped, counted
    gw_env.produce(Channel.BARS, bad)
    gw_env.produce(Channel.BARS, b"not json", key=record_key(gw_env.exchange, "BTCUSDT"))
    gw_env.flush()
    wait_until("2 bars relayed", lambda: relayed(gw, Channel.BARS) >= 2)
    wait_until("2 skipped", lambda: gw.metrics.value("obm_gateway_records_skipped_total", channel="bars", kind="schema")
               + gw.metrics.value("obm_gateway_records_skipped_total", channel="bars", kind="not_json") >= 2)  # fmt: skip
    assert relayed(gw, Channel.BARS) == 2
    client = TestClient(gw.url)
    client.request("subscribe", "bars", [f"{gw_env.exchange}:BTCUSDT"])
    snapshot = client.recv()
    assert snapshot["seq"] == 2 and [b["interval"] for b in snapshot["records"]] == ["1m", "1s"]
    health = orjson.loads(
        urllib.request.urlopen(f"http://127.0.0.1:{gw.gateway.port}/healthz", timeout=10).read()
    )
    assert health["status"] == "ok" and health["clients"] == 1
    metrics = (
        urllib.request.urlopen(f"http://127.0.0.1:{gw.gateway.port}/metrics", timeout=10).read().decode()
    )
    for name in ("obm_gateway_clients 1.0", "obm_gateway_subscriptions 1.0", "obm_gateway_messages_out_total",
                 'obm_gateway_records_skipped_total{channel="bars",kind="schema"} 1.0', "obm_gateway_lag_seconds"):  # fmt: skip
        assert name in metrics, name


def test_open_transactions_are_relayed_and_an_alert_once_per_id(
    gw_env: GatewayTestEnv, start_gateway
) -> None:  # type: ignore[no-untyped-def]
    """The Flink jobs write in transactions; the gateway relays a record before its commit (no
    wait for the checkpoint), and an alert whose transaction was aborted and that came again
    (the job's recovery) reaches a client once."""
    gw = start_gateway()
    client = TestClient(gw.url)
    key = record_key(gw_env.exchange, "BTCUSDT")
    client.request("subscribe", "metrics", [key])
    client.request("subscribe", "alerts", [key])
    job = Producer(producer_config(gw_env.kafka, {"transactional.id": f"test-job-{uuid.uuid4().hex}"}))
    job.init_transactions(30)
    job.begin_transaction()
    alert, metric = gw_env.alert(1), gw_env.processed(1)
    for channel, record in ((Channel.METRICS, metric), (Channel.ALERTS, alert)):
        job.produce(topic_name(channel.topic, gw_env.kafka.topic_prefix), orjson.dumps(record), key=key)
    job.flush(30)
    # the transaction is open: a committed-only reader would see nothing
    got = client.collect(lambda ms: len(updates(ms, "metrics")) >= 1 and len(updates(ms, "alerts")) >= 1)
    assert [m["data"] for m in updates(got, "metrics", key)] == [metric]
    assert [m["data"]["alert_id"] for m in updates(got, "alerts", key)] == [alert["alert_id"]]
    job.abort_transaction(30)
    # the recovered job writes the same alert again, committed, and a new one after it
    again, later = dict(alert), gw_env.alert(2)
    job.begin_transaction()
    for record in (again, later):
        job.produce(
            topic_name(Channel.ALERTS.topic, gw_env.kafka.topic_prefix), orjson.dumps(record), key=key
        )
    job.commit_transaction(30)
    got = client.collect(lambda ms: len(updates(ms, "alerts")) >= 1)
    assert [m["data"]["alert_id"] for m in updates(got, "alerts", key)] == [later["alert_id"]]
    wait_until(
        "the duplicate counted",
        lambda: (
            gw.metrics.value("obm_gateway_records_skipped_total", channel="alerts", kind=DUPLICATE_ALERT) == 1
        ),
    )
    client.close()
