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
from confluent_kafka import Consumer, TopicPartition

from config.clients import consumer_config, producer_config, redis_client
from schemas import Topic
from schemas.redis_layout import RedisLayout
from tests.e2e.reference_metrics import reference_metrics
from tests.e2e.stack_cli import StackUnderTest
from tests.flink.kafka_io import read_messages

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
    """Every record of `topic` up to its end offsets as they are then (waiting until there are at
    least `min_records`), all partitions read to the end so no symbol is left out: by
    tests/flink/kafka_io.read_messages, which reads a partition to its end by the consumer's
    position (a topic written in transactions, the jobs' outputs and the DLQ, ends on a commit
    marker that is never delivered; waiting for a message at end - 1 waited out a timeout)."""
    consumer = Consumer(consumer_config(st.kafka, f"e2e-{topic}-{time.time_ns()}"))
    try:
        partitions = list(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ends = [
                consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
            ]
            if sum(ends) >= min_records:
                break
            time.sleep(1)
    finally:
        consumer.close()
    return [orjson.loads(msg.value()) for msg in read_messages(st.kafka, Topic(topic), timeout_s=60)]


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
    r = redis_client(stack.redis, timeout_s=10)
    keys = RedisLayout.from_settings(stack.redis)
    deadline = time.monotonic() + 60
    latest: dict[str, dict] = {}
    while time.monotonic() < deadline and len(latest) < len(stack.symbols):
        for sym in stack.symbols:
            blob = r.get(keys.latest("binance", sym))
            if blob:
                latest[sym] = json.loads(blob)
        time.sleep(1)
    assert set(latest) == set(stack.symbols)
    assert r.ttl(keys.latest("binance", stack.symbols[0])) > 0
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


def _poisons(good_raw: dict, good_processed: dict) -> list[tuple[str, str, bytes]]:
    """(topic, kind, value) of one record of every kind of poison, built from real records."""
    day = 86_400_000

    def raw(**changes) -> bytes:
        return orjson.dumps({**good_raw, **changes})

    no_seq = {k: v for k, v in good_raw.items() if k != "sequence_id"}
    ahead = {**good_processed, "event_time": good_processed["event_time"] + day}
    return [
        ("orderbook.raw", "not_json", b'{"schema_version": 1, "exchange": "bin'),
        ("orderbook.raw", "wrong_types", raw(bid_prices="x", ask_sizes=[None])),
        ("orderbook.raw", "missing_field", orjson.dumps(no_seq)),
        ("orderbook.raw", "extra_field", raw(surprise=1)),
        ("orderbook.raw", "negative", raw(bid_sizes=[-1.0] + good_raw["bid_sizes"][1:])),
        (
            "orderbook.raw",
            "infinite",
            raw(ask_prices=["__INF__"] + good_raw["ask_prices"][1:]).replace(b'"__INF__"', b"1e999"),
        ),
        ("orderbook.raw", "unequal_lengths", raw(bid_sizes=good_raw["bid_sizes"][:-1])),
        ("orderbook.raw", "empty_sides", raw(bid_prices=[], bid_sizes=[], ask_prices=[], ask_sizes=[])),
        ("orderbook.raw", "event_time_ahead", raw(event_time=good_raw["event_time"] + day)),
        ("orderbook.raw", "event_time_behind", raw(event_time=good_raw["event_time"] - 2 * day)),
        ("orderbook.processed", "event_time_ahead", orjson.dumps(ahead)),
        ("orderbook.processed", "wrong_types", orjson.dumps({**good_processed, "imbalance_5": "high"})),
    ]


def test_poison_records_in_the_running_pipeline_go_to_the_dlq_and_stop_nothing(stack):
    """Issue 20 end to end: one record of every kind of poison under a live key, written into the
    running pipeline: every job stays RUNNING with no restart, the poisoned symbol's live value
    keeps updating, each poison is in the DLQ once per consumer that read it, with its reason and
    position, and nothing dated in the future is stored."""
    from confluent_kafka import Producer

    from flink_jobs.flink_rest import FlinkRest

    sym, key = "SOLUSDT", "binance:SOLUSDT"
    good_raw = next(r for r in reversed(read_topic(stack, "orderbook.raw")) if r["symbol"] == sym)
    good_processed = next(r for r in reversed(read_topic(stack, "orderbook.processed")) if r["symbol"] == sym)
    r = redis_client(stack.redis, timeout_s=10)
    keys = RedisLayout.from_settings(stack.redis)
    before = json.loads(r.get(keys.latest("binance", sym)))["event_time"]

    positions: dict[tuple[str, int, int], tuple[str, str]] = {}
    producer = Producer(producer_config(stack.kafka))
    for topic, kind, value in _poisons(good_raw, good_processed):

        def delivered(err, msg, topic=topic, kind=kind):
            assert err is None, err
            positions[(msg.topic(), msg.partition(), msg.offset())] = (topic, kind)

        producer.produce(topic, value=value, key=key, on_delivery=delivered)
    assert producer.flush(30) == 0

    # The poisoned symbol keeps updating: a live value newer than every poison's good neighbour.
    deadline = time.monotonic() + 90
    latest = before
    while time.monotonic() < deadline and latest <= good_raw["event_time"] + 2_000:
        latest = json.loads(r.get(keys.latest("binance", sym)))["event_time"]
        time.sleep(1)
    assert latest > good_raw["event_time"] + 2_000, "the poisoned symbol's live value stopped updating"

    # Each poison in the DLQ once per consumer that reads its topic, naming its position.
    readers = {"orderbook.raw": {"flink-metrics"}, "orderbook.processed": {"flink-bars", "flink-alerts"}}
    found: dict[tuple[str, int, int], list[str]] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = {}
        for d in read_topic(stack, "orderbook.dlq"):
            where = (d.get("topic"), d.get("partition"), d.get("offset"))
            if where in positions:
                found.setdefault(where, []).append(d["source"])
                assert d["key"] == key and d["reason"], d
        if all(readers[positions[w][0]] <= set(found.get(w, [])) for w in positions):
            break
        time.sleep(2)
    for where, (topic, kind) in positions.items():
        sources = found.get(where, [])
        assert readers[topic] <= set(sources), f"{topic} {kind}: DLQ sources {sources}"
        assert len(sources) == len(set(sources)), f"{topic} {kind}: twice in the DLQ: {sources}"

    flink = FlinkRest(stack.env["OBM_FLINK_JOBMANAGER"])
    jobs = [j for j in flink.get("/jobs/overview")["jobs"] if j["state"] not in ("CANCELED", "FINISHED")]
    assert {j["name"] for j in jobs} >= {"obm-metrics", "obm-bars", "obm-alerts"}
    for job in jobs:
        assert job["state"] == "RUNNING", job
        history = flink.get(f"/jobs/{job['jid']}/exceptions")["exceptionHistory"]["entries"]
        assert history == [], (job["name"], history[:1])
        restarts: list[dict] = []
        deadline = time.monotonic() + 60  # the JobManager registers a job's metrics a while after it starts
        while not restarts and time.monotonic() < deadline:
            restarts = flink.get(f"/jobs/{job['jid']}/metrics?get=numRestarts")
            time.sleep(0 if restarts else 2)
        assert restarts and restarts[0]["value"] == "0", (job["name"], restarts)

    with psycopg.connect(stack.postgres.conninfo(), autocommit=True) as conn:
        for table, column in (("orderbook_metrics", "ts"), ("orderbook_bars", "window_start"),
                              ("orderbook_alerts", "ts"), ("orderbook_snapshots", "ts")):  # fmt: skip
            (future,) = conn.execute(
                f"select count(*) from {table} where {column} > now() + interval '5 minutes'"
            ).fetchone()
            assert future == 0, f"{table} stores {future} rows dated in the future"


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
