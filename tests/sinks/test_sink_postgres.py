"""The database sink against a real Kafka and PostgreSQL: exactly once across a SIGKILL and a
database outage, poison records into the DLQ topic and table, snapshots sampled per second."""

from __future__ import annotations

import signal
import time
import urllib.request

import orjson
import psycopg
import pytest
from sink_test_support import sink_process_env, start_sink_process, wait_for

from schemas.topics import Topic
from sinks.postgres_rows import ALL_TABLES

pytestmark = pytest.mark.integration


def _count(pg, sql: str, *args) -> int:
    with psycopg.connect(pg.conninfo(), connect_timeout=3) as conn:
        return conn.execute(sql, args).fetchone()[0]


def _seqs(pg, exchange: str) -> list[int]:
    with psycopg.connect(pg.conninfo()) as conn:
        rows = conn.execute(
            "select sequence_id from orderbook_metrics where exchange = %s", (exchange,)
        ).fetchall()
    return [r[0] for r in rows]


def test_init_db_sql_runs_twice_and_matches_the_sinks_columns(pg_server, pg_settings):
    pg_server.apply_init_sql()
    pg_server.apply_init_sql()
    with psycopg.connect(pg_settings.conninfo()) as conn:
        for spec in ALL_TABLES:
            cols = {
                r[0]
                for r in conn.execute(
                    "select column_name from information_schema.columns where table_name = %s", (spec.table,)
                )
            }
            assert set(spec.columns) <= cols, (spec.table, set(spec.columns) - cols)
        # the retention function and the rollups exist and run
        assert {r[0] for r in conn.execute("select table_name from orderbook_apply_retention()")} >= {
            "orderbook_metrics",
            "orderbook_bars",
            "orderbook_alerts",
            "orderbook_dlq",
            "orderbook_snapshots",
        }
        conn.execute("select * from orderbook_bars_1m limit 1")
        conn.execute("select * from orderbook_bars_1h limit 1")


def test_sigkill_mid_stream_then_restart_stores_every_record_exactly_once(sink_env, pg_settings, tmp_path):
    n = 30_000
    for i in range(n):
        sink_env.produce(
            Topic.PROCESSED, sink_env.processed(i, symbol=("BTCUSDT", "ETHUSDT", "SOLUSDT")[i % 3])
        )
    sink_env.flush()
    env = sink_process_env(sink_env, pg=pg_settings, batch_max_records=500)
    log = str(tmp_path / "sink.log")
    proc = start_sink_process("postgres", env, log)
    try:
        stored_at_kill = wait_for("some rows", lambda: _count(
            pg_settings, "select count(*) from orderbook_metrics where exchange = %s", sink_env.exchange) >= 2_000,
            timeout_s=90)  # fmt: skip
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        at_kill = _count(
            pg_settings, "select count(*) from orderbook_metrics where exchange = %s", sink_env.exchange
        )
        assert stored_at_kill and at_kill < n, "the kill must land mid-stream"
        proc = start_sink_process("postgres", env, log)
        wait_for("all rows", lambda: _count(pg_settings, "select count(*) from orderbook_metrics where exchange = %s",
                                            sink_env.exchange) >= n, timeout_s=120)  # fmt: skip
        time.sleep(1.0)  # anything doubled or extra would land now
        seqs = _seqs(pg_settings, sink_env.exchange)
        assert sorted(seqs) == list(range(n))
    finally:
        proc.terminate()
        assert proc.wait(30) == 0, open(log).read()[-3000:]


def test_database_stopped_and_restarted_under_load_loses_and_doubles_nothing(sink_env, pg_server, pg_settings,
                                                                              tmp_path):  # fmt: skip
    env = sink_process_env(sink_env, pg=pg_settings, batch_max_records=300)
    log = str(tmp_path / "sink.log")
    proc = start_sink_process("postgres", env, log)
    n, produced = 12_000, 0
    try:

        def produce(upto: int) -> None:
            nonlocal produced
            while produced < upto:
                sink_env.produce(Topic.PROCESSED, sink_env.processed(produced))
                produced += 1
                if produced % 500 == 0:
                    sink_env.flush()
                    time.sleep(0.05)  # a steady stream rather than one burst
            sink_env.flush()

        produce(4_000)
        wait_for(
            "rows before the outage",
            lambda: (
                _count(
                    pg_settings,
                    "select count(*) from orderbook_metrics where exchange = %s",
                    sink_env.exchange,
                )
                > 0
            ),
        )
        pg_server.stop()
        produce(8_000)  # the stream goes on while the database is down
        time.sleep(2.0)
        assert proc.poll() is None, "the sink must wait for the database, not exit"
        pg_server.start()
        produce(n)
        wait_for("all rows", lambda: _count(pg_settings, "select count(*) from orderbook_metrics where exchange = %s",
                                            sink_env.exchange) >= n, timeout_s=120)  # fmt: skip
        time.sleep(1.0)
        assert sorted(_seqs(pg_settings, sink_env.exchange)) == list(range(n))
        metrics = (
            urllib.request.urlopen(
                f"http://127.0.0.1:{env['OBM_SINK_POSTGRES_METRICS_PORT']}/metrics", timeout=5
            )
            .read()
            .decode()
        )
        assert 'obm_sink_write_retries_total{sink="postgres"}' in metrics
        retries = [
            ln
            for ln in metrics.splitlines()
            if ln.startswith('obm_sink_write_retries_total{sink="postgres"}')
        ]
        assert float(retries[0].split()[-1]) >= 1, "the outage must have been seen and retried"
        assert "obm_sink_consumer_lag" in metrics and "obm_sink_records_stored_total" in metrics
    finally:
        if not pg_server.healthy():
            pg_server.start()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, open(log).read()[-3000:]


def test_poison_records_reach_the_dlq_topic_and_table_and_good_ones_are_stored(sink_env, pg_settings,
                                                                               run_sink_thread):  # fmt: skip
    e = sink_env
    e.produce(Topic.PROCESSED, e.processed(1))
    bad_schema = {**e.processed(2), "imbalance_1": "high"}  # a string where a number belongs
    e.produce(Topic.PROCESSED, bad_schema)
    e.produce(Topic.PROCESSED, b'{"schema_version": 1, "exchange": ', key=f"{e.exchange}:BTCUSDT")
    e.produce(Topic.PROCESSED, {**e.processed(3), "sequence_id": 2**63})  # valid JSON Schema, beyond bigint
    e.produce(Topic.PROCESSED, e.processed(4))
    e.produce(Topic.BARS, {**e.bar(e.base_ms), "interval": "5m"})  # not an allowed interval
    e.produce(Topic.BARS, e.bar(e.base_ms + 1000))
    e.produce(Topic.ALERTS, e.alert(1))
    e.produce(Topic.DLQ, b"not even json", key="whatever")  # an invalid DLQ record is still kept
    e.flush()
    sink = run_sink_thread("postgres", e, pg=pg_settings)
    wait_for(
        "good rows",
        lambda: (
            _count(pg_settings, "select count(*) from orderbook_metrics where exchange = %s", e.exchange) == 2
        ),
    )
    dlq_topic = wait_for("DLQ records", lambda: [orjson.loads(v) for _, v in e.read_topic(Topic.DLQ, expect=5)
                                                 if v.startswith(b"{")] or None)  # fmt: skip
    sink.stop()
    assert sorted(_seqs(pg_settings, e.exchange)) == [1, 4]
    reasons = {d["origin"].split("[")[0]: [] for d in dlq_topic}
    for d in dlq_topic:
        assert d["source"] == "sink-postgres"
        assert d["origin"].startswith(e.kafka.topic_prefix)
        reasons[d["origin"].split("[")[0]].append(d["reason"])
    processed_reasons = " | ".join(reasons[e.topic(Topic.PROCESSED)])
    assert len(reasons[e.topic(Topic.PROCESSED)]) == 3, processed_reasons
    assert "imbalance_1" in processed_reasons
    assert "malformed JSON" in processed_reasons
    assert "rejected by PostgreSQL" in processed_reasons
    assert any("interval" in r for r in reasons[e.topic(Topic.BARS)])
    with psycopg.connect(pg_settings.conninfo()) as conn:
        table = conn.execute("select reason, payload, origin from orderbook_dlq where kafka_topic = %s",
                             (e.topic(Topic.DLQ),)).fetchall()  # fmt: skip
        assert _count(pg_settings, "select count(*) from orderbook_bars where exchange = %s", e.exchange) == 1
        assert (
            _count(pg_settings, "select count(*) from orderbook_alerts where exchange = %s", e.exchange) == 1
        )
    assert len(table) == 5  # four rejects published by the sink + the invalid record
    table_reasons = " | ".join(r[0] for r in table)
    assert "rejected by PostgreSQL" in table_reasons and "malformed JSON" in table_reasons
    assert any(r[1] == "not even json" and "invalid orderbook.dlq record" in r[0] for r in table)


def test_snapshots_keep_the_first_record_of_each_second(sink_env, pg_settings, run_sink_thread):
    e = sink_env
    base = e.base_ms - e.base_ms % 1000
    # three seconds, four records each; the first of each second must win
    for sec in range(3):
        for j in range(4):
            e.produce(Topic.RAW, e.raw(seq=sec * 10 + j, event_time=base + sec * 1000 + j * 250))
    e.flush()
    sink = run_sink_thread("postgres", e, pg=pg_settings)
    wait_for(
        "snapshots",
        lambda: (
            _count(pg_settings, "select count(*) from orderbook_snapshots where exchange = %s", e.exchange)
            == 3
        ),
    )
    sink.stop()
    with psycopg.connect(pg_settings.conninfo()) as conn:
        rows = conn.execute("select extract(epoch from ts)::bigint, sequence_id, bid_sizes from orderbook_snapshots "
                            "where exchange = %s order by ts", (e.exchange,)).fetchall()  # fmt: skip
    assert [(r[0], r[1]) for r in rows] == [(base // 1000 + s, s * 10) for s in range(3)]
    assert rows[0][2] == [1.0, 1.0]


def test_sigterm_flushes_the_batch_at_hand(sink_env, pg_settings, tmp_path):
    for i in range(2_000):
        sink_env.produce(Topic.PROCESSED, sink_env.processed(i))
    sink_env.flush()
    env = sink_process_env(sink_env, pg=pg_settings, batch_max_records=50_000)
    env["OBM_SINK_BATCH_MAX_MS"] = "60000"  # a batch that would wait a minute unless flushed
    log = str(tmp_path / "sink.log")
    proc = start_sink_process("postgres", env, log)
    time.sleep(6.0)
    assert (
        _count(pg_settings, "select count(*) from orderbook_metrics where exchange = %s", sink_env.exchange)
        == 0
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, open(log).read()[-3000:]
    assert (
        _count(pg_settings, "select count(*) from orderbook_metrics where exchange = %s", sink_env.exchange)
        == 2_000
    )
