"""The whole topology end to end, started by the real `obm up`: simulator -> producer ->
orderbook.raw -> Flink metrics job -> orderbook.processed -> sinks -> PostgreSQL and Redis ->
dashboard. The metric values that land in the database and in Redis are checked against an
independent computation from the raw records the producer published."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator

import orjson
import psycopg
import pytest
import redis
from confluent_kafka import Consumer, TopicPartition

from tests.e2e.reference_metrics import reference_metrics
from tests.e2e.stack_cli import StackUnderTest

pytestmark = pytest.mark.e2e

METRIC_COLUMNS = (
    "best_bid", "best_ask", "best_bid_size", "best_ask_size", "mid", "spread", "spread_bps",
    "imbalance_1", "imbalance_5", "imbalance_10", "imbalance_20",
)  # fmt: skip


@pytest.fixture(scope="module")
def stack() -> Iterator[StackUnderTest]:
    st = StackUnderTest()
    up = st.obm("up", timeout=900)
    if up.returncode != 0:
        down = st.obm("down")
        pytest.fail(f"obm up failed:\n{up.stdout}\n{up.stderr}\n--- down:\n{down.stdout}")
    yield st
    st.obm("down")
    st.cleanup()


def read_topic(st: StackUnderTest, topic: str, *, min_records: int = 1, timeout_s: float = 120) -> list[dict]:
    """Every record of `topic` up to its end offsets as they are now (waiting until there are at
    least `min_records`), all partitions read to the end so no symbol is left out."""
    consumer = Consumer(
        {
            "bootstrap.servers": st.kafka.bootstrap_servers,
            "group.id": f"e2e-{topic}-{time.time_ns()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    partitions = list(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    deadline = time.monotonic() + timeout_s
    while True:
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
        }
        if sum(ends.values()) >= min_records or time.monotonic() > deadline:
            break
        time.sleep(1)
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    records: list[dict] = []
    done = {p for p, end in ends.items() if end == 0}
    while len(done) < len(partitions) and time.monotonic() < deadline + 60:
        for msg in consumer.consume(1000, timeout=1):
            if msg.error() is not None or msg.partition() in done:
                continue
            if msg.offset() < ends[msg.partition()]:
                records.append(orjson.loads(msg.value()))
            if msg.offset() >= ends[msg.partition()] - 1:
                done.add(msg.partition())
    consumer.close()
    return records


def test_obm_status_reports_every_component_healthy(stack):
    status = stack.obm("status", timeout=120)
    assert status.returncode == 0, status.stdout + status.stderr
    for name in ("kafka", "postgres", "redis", "flink", "simulator", "producer", "flink-jobs",
                 "sink-postgres", "sink-redis", "dashboard"):  # fmt: skip
        line = next(line for line in status.stdout.splitlines() if line.startswith(name + " "))
        assert "healthy" in line, status.stdout


def test_metrics_in_the_database_equal_an_independent_computation(stack):
    raw = read_topic(stack, "orderbook.raw", min_records=300)
    assert len(raw) >= 300, f"only {len(raw)} raw records\n{stack.log('producer')}"
    assert {r["symbol"] for r in raw} == set(stack.symbols)
    wanted = {(r["exchange"], r["symbol"], r["sequence_id"]): r for r in raw}

    deadline = time.monotonic() + 180
    rows: dict[tuple, dict] = {}
    with psycopg.connect(stack.postgres.conninfo(), autocommit=True) as conn:
        while time.monotonic() < deadline:
            cur = conn.execute(
                f"select exchange, symbol, sequence_id, {', '.join(METRIC_COLUMNS)} from orderbook_metrics "
                "where sequence_id = any(%s)",
                ([k[2] for k in wanted],),
            )
            names = [d.name for d in cur.description]
            rows = {(r[0], r[1], r[2]): dict(zip(names, r, strict=True)) for r in cur.fetchall()}
            if set(wanted) <= set(rows):
                break
            time.sleep(2)
        dupes = conn.execute(
            "select count(*) from (select exchange, symbol, sequence_id from orderbook_metrics "
            "group by 1, 2, 3 having count(*) > 1) d"
        ).fetchone()
    missing = set(wanted) - set(rows)
    assert not missing, f"{len(missing)} of {len(wanted)} raw records have no stored metrics\n" + stack.log(
        "sink-postgres"
    )
    assert dupes == (0,)
    for key, record in wanted.items():
        expected = reference_metrics(record)
        for col in METRIC_COLUMNS:
            assert rows[key][col] == pytest.approx(expected[col], rel=1e-12, abs=1e-12), (key, col)


def test_redis_holds_the_latest_metrics_of_every_symbol(stack):
    r = redis.Redis(port=stack.redis.port)
    deadline = time.monotonic() + 60
    latest: dict[str, dict] = {}
    while time.monotonic() < deadline and len(latest) < len(stack.symbols):
        for sym in stack.symbols:
            blob = r.get(f"obm:latest:binance:{sym}")
            if blob:
                latest[sym] = json.loads(blob)
        time.sleep(1)
    assert set(latest) == set(stack.symbols)
    assert r.ttl(f"obm:latest:binance:{stack.symbols[0]}") > 0
    # Each latest value is the metrics of a raw record the producer published, exactly.
    raw = read_topic(stack, "orderbook.raw")
    by_key = {(x["symbol"], x["sequence_id"]): x for x in raw}
    for sym, rec in latest.items():
        source = by_key[(sym, rec["sequence_id"])]
        expected = reference_metrics(source)
        for col in METRIC_COLUMNS:
            assert rec[col] == pytest.approx(expected[col], rel=1e-12, abs=1e-12), (sym, col)


def test_dashboard_serves_the_app(stack):
    with urllib.request.urlopen(stack.dashboard_url + "/_stcore/health", timeout=10) as resp:
        assert resp.read().strip() == b"ok"


def test_obm_down_leaves_no_process_behind(stack):
    pids = stack.pids()
    assert {"kafka", "postgres", "redis", "flink-jobmanager", "flink-taskmanager", "producer"} <= set(pids)
    assert stack.alive(pids) == pids
    down = stack.obm("down", timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    assert stack.alive(pids) == {}
    assert stack.obm("status").returncode == 1


def test_a_second_up_reuses_state_and_resumes_the_jobs_from_their_savepoints(stack):
    savepoints = json.loads((stack.state_dir / "flink" / "last-savepoints.json").read_text())
    assert set(savepoints) >= {"metrics"}
    before_up = time.time()
    up = stack.obm("up", timeout=900)
    assert up.returncode == 0, up.stdout + up.stderr
    with psycopg.connect(stack.postgres.conninfo()) as conn:
        (stored,) = conn.execute(
            "select count(*) from orderbook_metrics where ts < to_timestamp(%s)", (before_up,)
        ).fetchone()
    assert stored >= 300, "the metrics stored before the restart are gone"
    jm_log = (stack.state_dir / "logs" / "flink-jobmanager.log").read_text(errors="replace")
    for location in savepoints.values():
        assert f"from savepoint {location}" in jm_log, f"job not resumed from {location}"
    status = stack.obm("status", timeout=120)
    assert status.returncode == 0, status.stdout
