"""Poison records against both sinks at once, with a real Kafka, PostgreSQL and Redis: for every
topic a sink reads and every kind of poison (not JSON, wrong types, nulls, nulls in arrays, missing
and extra fields, negative, NaN and infinite numbers, unequal array lengths, empty book sides, event
times far ahead and far behind), written under a live key between good records of that key. Both
sinks keep running, every good record around the poison is stored (the poisoned key's later ones
too), nothing dated in the future is stored, and each sink puts each poison into orderbook.dlq
exactly once (docs/storage.md: one DLQ record per sink that rejected it) with its reason kind, its
position, its key and its original bytes; the database sink stores those DLQ records in
orderbook_dlq, and the rejects are counted by reason kind."""

from __future__ import annotations

import signal
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from sink_test_support import SinkTestEnv, sink_process_env, start_sink_process, wait_for

from config.clients import consumer_config, redis_client
from obm.operator.topic_policy import TOPIC_POLICIES
from schemas.dlq import original_bytes
from schemas.redis_layout import ALERTS_STREAM_FIELD, RedisLayout
from schemas.topics import Topic
from sinks.decoding.contract import RejectKind

pytestmark = pytest.mark.integration

POISONED, CLEAN = "SOLUSDT", "BTCUSDT"
MAX_FUTURE_MS = 300_000  # ContractSettings' default, which the sinks run with here
_EVENT_TIME = {Topic.PROCESSED: "event_time", Topic.BARS: "window_start", Topic.ALERTS: "event_time",
               Topic.RAW: "event_time"}  # fmt: skip


@dataclass
class Produced:
    topic: Topic
    key: str
    value: bytes
    kind: RejectKind | None  # None: a good record
    position: tuple[int, int] | None = None  # (partition, offset), from the delivery report


def _number_marked(record: dict[str, Any], field: str, token: bytes) -> bytes:
    """The record's JSON with `field`'s value replaced by a raw token (NaN, 1e999: not from dumps)."""
    return orjson.dumps({**record, field: 7.25}).replace(b"7.25", token, 1)


def _poisons(topic: Topic, good: dict[str, Any], now_ms: int) -> list[tuple[bytes, RejectKind]]:
    """Every kind of poison, made from a good record of the topic."""
    et = _EVENT_TIME[topic]
    wrong, negative, number = {
        Topic.PROCESSED: (("imbalance_1", "high"), ("sequence_id", -1), "mid"),
        Topic.BARS: (("mid_open", "x"), ("update_count", -1), "mid_close"),
        Topic.ALERTS: (("threshold", "0.7"), ("window_start", -1), "metric_value"),
        Topic.RAW: (("bid_prices", "x"), ("bid_sizes", [-1.0, 1.0]), None),
    }[topic]
    missing = {k: v for k, v in good.items() if k != "market"}
    out = [
        (b'{"schema_version": 1, "exchange": ', RejectKind.NOT_JSON),
        (orjson.dumps({**good, wrong[0]: wrong[1]}), RejectKind.SCHEMA),
        (orjson.dumps({**good, "market": None}), RejectKind.SCHEMA),
        (orjson.dumps(missing), RejectKind.SCHEMA),
        (orjson.dumps({**good, "unexpected": 1}), RejectKind.SCHEMA),
        (orjson.dumps({**good, negative[0]: negative[1]}), RejectKind.SCHEMA),
        (orjson.dumps({**good, et: now_ms + 86_400_000}), RejectKind.EVENT_TIME_AHEAD),
        (orjson.dumps({**good, et: now_ms - TOPIC_POLICIES[topic].retention_ms - 86_400_000}),
         RejectKind.EVENT_TIME_TOO_OLD),
    ]  # fmt: skip
    if number is not None:
        out += [(_number_marked(good, number, b"NaN"), RejectKind.NOT_FINITE),
                (_number_marked(good, number, b"1e999"), RejectKind.NOT_FINITE)]  # fmt: skip
    else:  # a book: the numbers are in arrays
        marked = {**good, "bid_prices": [100.0, 7.25]}
        out += [
            (orjson.dumps(marked).replace(b"7.25", b"NaN", 1), RejectKind.NOT_FINITE),
            (orjson.dumps(marked).replace(b"7.25", b"1e999", 1), RejectKind.NOT_FINITE),
            (orjson.dumps({**good, "ask_sizes": [None, 3.0]}), RejectKind.SCHEMA),  # null in an array
            (orjson.dumps({**good, "bid_sizes": good["bid_sizes"][:1]}), RejectKind.UNEQUAL_LENGTH),
            (orjson.dumps({**good, "ask_prices": [], "ask_sizes": []}), RejectKind.SCHEMA),  # empty side
        ]
    return out


class Stream:
    """Records produced in order, each with its position once delivered."""

    def __init__(self, env: SinkTestEnv) -> None:
        self.env = env
        self.records: list[Produced] = []

    def add(
        self, topic: Topic, value: dict[str, Any] | bytes, key: str, kind: RejectKind | None = None
    ) -> None:
        rec = Produced(topic, key, value if isinstance(value, bytes) else orjson.dumps(value), kind)
        self.records.append(rec)

        def delivered(err: Any, msg: Any) -> None:
            assert err is None, err
            rec.position = (msg.partition(), msg.offset())

        self.env.producer.produce(self.env.topic(topic), value=rec.value, key=key, on_delivery=delivered)

    def poisons(self, *topics: Topic) -> list[Produced]:
        return [r for r in self.records if r.kind is not None and r.topic in topics]


def _write_stream(e: SinkTestEnv, now_ms: int) -> Stream:
    """Per topic and poison: a good record of the poisoned key, the poison, another good record of
    it, and a good record of a clean key; all good records in distinct seconds."""
    s = Stream(e)
    poisoned_key, clean_key = f"{e.exchange}:{POISONED}", f"{e.exchange}:{CLEAN}"
    base = now_ms - 600_000 - now_ms % 1000
    n = 0

    def good(topic: Topic, symbol: str) -> dict[str, Any]:
        nonlocal n
        n += 1
        t = base + n * 1000
        return {Topic.PROCESSED: lambda: e.processed(n, symbol=symbol, event_time=t),
                Topic.BARS: lambda: e.bar(t, symbol=symbol), Topic.ALERTS: lambda: e.alert(n, symbol=symbol, event_time=t),
                Topic.RAW: lambda: e.raw(n, event_time=t, symbol=symbol)}[topic]()  # fmt: skip

    for topic in (Topic.PROCESSED, Topic.BARS, Topic.ALERTS, Topic.RAW):
        for value, kind in _poisons(topic, good(topic, POISONED), now_ms):
            s.add(topic, good(topic, POISONED), poisoned_key)
            s.add(topic, value, poisoned_key, kind)
            s.add(topic, good(topic, POISONED), poisoned_key)
            s.add(topic, good(topic, CLEAN), clean_key)
        # within the future bound (a venue's clock skew): stored
        s.add(topic, {**good(topic, POISONED), _EVENT_TIME[topic]: now_ms + 60_000}, poisoned_key)
    e.flush()
    assert all(r.position is not None for r in s.records)
    return s


def _count(pg, sql: str, *args: Any) -> int:
    with psycopg.connect(pg.conninfo(), connect_timeout=5) as conn:
        row = conn.execute(sql, args).fetchone()
    return int(row[0]) if row else 0


def _dlq_by_source(e: SinkTestEnv, expect: int) -> dict[str, list[dict[str, Any]]]:
    records = [orjson.loads(v) for _, v in e.read_topic(Topic.DLQ, expect=expect, timeout_s=60)]
    out: dict[str, list[dict[str, Any]]] = {}
    for d in records:
        out.setdefault(d["source"], []).append(d)
    return out


def test_poison_of_every_kind_goes_to_the_dlq_once_per_sink_and_the_sinks_keep_storing(
    sink_env, pg_settings, redis_settings, run_sink_thread
):
    e = sink_env
    rs = redis_settings.model_copy(update={"key_prefix": f"t{e.exchange}"})
    r = redis_client(rs, timeout_s=10)
    keys = RedisLayout.from_settings(rs)
    now_ms = int(time.time() * 1000)
    stream = _write_stream(e, now_ms)
    good = [rec for rec in stream.records if rec.kind is None]
    goods = Counter(rec.topic for rec in good)
    pg_sink = run_sink_thread("postgres", e, pg=pg_settings)
    redis_sink = run_sink_thread("redis", e, redis_settings=rs)

    tables = {Topic.PROCESSED: "orderbook_metrics", Topic.BARS: "orderbook_bars", Topic.ALERTS: "orderbook_alerts",
              Topic.RAW: "orderbook_snapshots"}  # fmt: skip
    for topic, table in tables.items():  # every good record, before and after each poison
        wait_for(f"{table} rows", lambda t=table, tp=topic: _count(
            pg_settings, f"select count(*) from {t} where exchange = %s", e.exchange) == goods[tp], timeout_s=120)  # fmt: skip
    last = {t: orjson.loads([g for g in good if g.topic is t and g.key.endswith(POISONED)][-1].value)
            for t in (Topic.PROCESSED, Topic.RAW)}  # fmt: skip
    wait_for("latest values of the poisoned key", lambda: (
        (v := r.get(keys.latest(e.exchange, POISONED))) is not None and (b := r.get(keys.book(e.exchange, POISONED)))
        is not None and orjson.loads(v) == last[Topic.PROCESSED] and orjson.loads(b) == last[Topic.RAW]), timeout_s=120)  # fmt: skip
    wait_for("bars in Redis", lambda: sum(r.zcard(keys.bars("1s", e.exchange, s)) for s in (POISONED, CLEAN))
             == goods[Topic.BARS], timeout_s=120)  # fmt: skip
    wait_for("alerts in Redis", lambda: r.xlen(keys.alerts_stream()) == goods[Topic.ALERTS], timeout_s=120)

    poisons = stream.poisons(Topic.PROCESSED, Topic.BARS, Topic.ALERTS, Topic.RAW)
    expected = {"sink-postgres": poisons, "sink-redis": poisons}  # both sinks read all four topics
    by_source = wait_for("every reject in the DLQ", lambda: (d := _dlq_by_source(e, 2 * len(poisons))) and all(
        len(d.get(src, [])) >= len(want) for src, want in expected.items()) and d, timeout_s=120)  # fmt: skip
    time.sleep(2.0)  # a second DLQ record of anything would be published by now
    by_source = _dlq_by_source(e, 2 * len(poisons))
    assert set(by_source) == set(expected)
    for source, want in expected.items():
        got = by_source[source]
        positions = Counter((d["topic"], d["partition"], d["offset"]) for d in got)
        assert all(n == 1 for n in positions.values()), [p for p, n in positions.items() if n > 1]
        assert set(positions) == {(e.topic(p.topic), *p.position) for p in want if p.position}
        by_position = {(d["topic"], d["partition"], d["offset"]): d for d in got}
        for p in want:
            assert p.position is not None
            d = by_position[(e.topic(p.topic), *p.position)]
            assert d["reason"].startswith(f"{p.kind}: "), (p.kind, d["reason"])
            assert d["key"] == p.key and original_bytes(d) == p.value
            assert d["origin"] == f"{e.topic(p.topic)}[{p.position[0]}]@{p.position[1]}"

    # The database sink stores every DLQ record, with the rejected record's position.
    wait_for("DLQ rows", lambda: _count(pg_settings, "select count(*) from orderbook_dlq where kafka_topic = %s",
                                        e.topic(Topic.DLQ)) == 2 * len(poisons), timeout_s=60)  # fmt: skip
    with psycopg.connect(pg_settings.conninfo()) as conn:
        rows = conn.execute("select source, source_topic, source_partition, source_offset, payload_encoding "
                            "from orderbook_dlq where kafka_topic = %s", (e.topic(Topic.DLQ),)).fetchall()  # fmt: skip
    assert Counter((row[0], row[1], row[2], row[3]) for row in rows) == Counter(
        (src, e.topic(p.topic), *p.position) for src, want in expected.items() for p in want if p.position)  # fmt: skip
    assert {row[4] for row in rows} == {"utf-8"}

    # Nothing dated in the future (beyond the bound) is stored, in either store.
    bound_s = (now_ms + MAX_FUTURE_MS) / 1000
    for table, column in (("orderbook_metrics", "ts"), ("orderbook_bars", "window_start"),
                          ("orderbook_alerts", "ts"), ("orderbook_snapshots", "ts")):  # fmt: skip
        assert _count(pg_settings, f"select count(*) from {table} where exchange = %s and {column} > "
                      "to_timestamp(%s)", e.exchange, bound_s) == 0, table  # fmt: skip
    for s in (POISONED, CLEAN):
        scores = [score for _, score in r.zrange(keys.bars("1s", e.exchange, s), 0, -1, withscores=True)]
        assert max(scores) <= now_ms + MAX_FUTURE_MS
    stream_times = [
        orjson.loads(f[ALERTS_STREAM_FIELD.encode()])["event_time"] for _, f in r.xrange(keys.alerts_stream())
    ]
    assert max(stream_times) <= now_ms + MAX_FUTURE_MS

    # Counted per sink, topic and reason kind.
    for ts in (pg_sink, redis_sink):
        for topic in tables:
            for kind, n in Counter(p.kind for p in stream.poisons(topic)).items():
                assert (
                    ts.loop.metrics.value("obm_sink_records_rejected_total", topic=topic.value, reason=kind)
                    == n
                )
    assert pg_sink.thread.is_alive() and redis_sink.thread.is_alive()  # carried on
    pg_sink.stop()
    redis_sink.stop()


def _committed(e: SinkTestEnv, group: str, topic: Topic) -> int:
    """The group's committed offsets on the topic, summed over its partitions (0 before any)."""
    c = Consumer(consumer_config(e.kafka, group))
    try:
        name = e.topic(topic)
        parts = c.list_topics(name, timeout=10).topics[name].partitions
        for attempt in range(40):  # the group's coordinator may be loading or moving
            try:
                got = c.committed([TopicPartition(name, p) for p in parts], timeout=10)
                return sum(tp.offset for tp in got if tp.offset > 0)
            except KafkaException:
                if attempt == 39:
                    raise
                time.sleep(0.25)
        raise AssertionError("unreachable")
    finally:
        c.close()


@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_each_reject_is_published_exactly_once_across_a_sigkill(kind, sink_env, pg_settings, redis_settings,
                                                                  tmp_path):  # fmt: skip
    """The DLQ records of a batch and its offsets are one Kafka transaction (sinks/offset_commit.py):
    a sink killed mid-stream and restarted reads the uncommitted batches again and publishes their
    rejects then, so each reject is in the DLQ once."""
    e = sink_env
    now_ms = int(time.time() * 1000)
    stream = Stream(e)
    n = 20_000
    for i in range(n):
        if i % 2000 == 0:
            e.producer.poll(0)  # serve delivery reports
        symbol = ("BTCUSDT", "ETHUSDT", "SOLUSDT")[i % 3]
        good = e.processed(i, symbol=symbol, event_time=now_ms - 600_000 + i)
        key = f"{e.exchange}:{symbol}"
        if i % 500 != 250:
            stream.add(Topic.PROCESSED, good, key)
            continue
        bad = {
            RejectKind.NOT_JSON: b"{not json",
            RejectKind.EVENT_TIME_AHEAD: orjson.dumps({**good, "event_time": now_ms + 86_400_000}),
            RejectKind.SCHEMA: orjson.dumps({**good, "symbol": 1}),
        }
        reject_kind = list(bad)[(i // 500) % 3]
        stream.add(Topic.PROCESSED, bad[reject_kind], key, reject_kind)
    e.flush()
    poisons = stream.poisons(Topic.PROCESSED)
    rs = redis_settings.model_copy(update={"key_prefix": f"t{e.exchange}"})
    # small batches: many commits, so the kill lands between two of them
    env = sink_process_env(e, pg=pg_settings, rs=rs, batch_max_records=200)
    group = env["OBM_SINK_POSTGRES_GROUP"] if kind == "postgres" else env["OBM_SINK_REDIS_GROUP"]
    log = str(tmp_path / "sink.log")
    proc = start_sink_process(kind, env, log)
    finished = False
    try:
        wait_for("some batches committed", lambda: _committed(e, group, Topic.PROCESSED) >= 3_000, timeout_s=120,
                 every_s=0.05)  # fmt: skip
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        at_kill = _committed(e, group, Topic.PROCESSED)
        proc = start_sink_process(kind, env, log)
        assert at_kill < n, "the kill must land mid-stream"
        wait_for("every record committed", lambda: _committed(e, group, Topic.PROCESSED) == n, timeout_s=240)
        time.sleep(1.0)
        finished = True
    finally:
        proc.terminate()
        code = proc.wait(30)
    assert not finished or code == 0, open(log).read()[-3000:]
    source = f"sink-{kind}"
    mine = [orjson.loads(v) for _, v in e.read_topic(Topic.DLQ, expect=len(poisons), timeout_s=60)]
    positions = Counter((d["partition"], d["offset"]) for d in mine if d["source"] == source)
    assert all(c == 1 for c in positions.values()), [p for p, c in positions.items() if c > 1]
    assert set(positions) == {p.position for p in poisons}
    reasons = {(d["partition"], d["offset"]): d["reason"] for d in mine}
    assert all(reasons[p.position].startswith(f"{p.kind}: ") for p in poisons if p.position)
