"""trades.raw into the trades table, on plain PostgreSQL and on TimescaleDB (this module is in
TIMESCALEDB_LEG, tests/pg_kinds.py): every field stored as it came (price and size exact), one row
per venue trade id whatever is written again (a replayed batch, a replay into compressed chunks,
a sink process killed mid-stream and restarted behind its last commit), a record that breaks the
contract goes to the DLQ records of the write."""

from __future__ import annotations

import signal
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition
from pg_kinds import require_timescaledb
from sink_test_support import sink_process_env, start_sink_process, wait_for

from config.clients import consumer_config
from schemas.registry import load_schema
from schemas.topics import Topic
from sinks.batching import SinkBatch, SinkRecord
from sinks.postgres_sink import PostgresSink
from sinks.postgres_trades import TRADES

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000


def _trade(exchange: str, symbol: str, trade_id: int, event_time: int, **changes) -> dict:
    example = load_schema(Topic.TRADES)["examples"][0]
    return {
        **example,
        "exchange": exchange,
        "symbol": symbol,
        "trade_id": str(trade_id),
        "event_time": event_time,
        "receive_time_ns": event_time * 1_000_000 + 123_456,
        **changes,
    }


def _records(trades: list[dict], offset: int = 0) -> list[SinkRecord]:
    return [
        SinkRecord(
            Topic.TRADES,
            Topic.TRADES.value,
            0,
            offset + i,
            f"{t['exchange']}:{t['symbol']}".encode(),
            orjson.dumps(t),
            1,
        )  # fmt: skip
        for i, t in enumerate(trades)
    ]


def _as_row(trade: dict) -> tuple:
    values = {**trade, "price": Decimal(trade["price"]), "size": Decimal(trade["size"])}
    return (datetime.fromtimestamp(trade["event_time"] / 1000, UTC), *(values[c] for c in TRADES.columns[1:]))


def _stored(pg_settings, exchange: str) -> list[tuple]:
    columns = ", ".join(f'"{c}"' for c in TRADES.columns)
    with psycopg.connect(pg_settings.conninfo()) as conn:
        return conn.execute(
            f"select {columns} from trades where exchange = %s order by symbol, trade_id::bigint", (exchange,)
        ).fetchall()


def _on_timescaledb(pg_settings) -> bool:
    with psycopg.connect(pg_settings.conninfo()) as conn:
        return conn.execute("select 1 from pg_extension where extname = 'timescaledb'").fetchone() is not None


def _compress_trades(pg_settings) -> None:
    """Runs the trades table's compression policy now (the test server has no background jobs)."""
    with psycopg.connect(pg_settings.conninfo(), autocommit=True) as conn:
        jobs = conn.execute("select job_id from timescaledb_information.jobs where proc_name = "
                            "'policy_compression' and hypertable_name = 'trades'").fetchall()  # fmt: skip
        assert len(jobs) == 1
        conn.execute("CALL run_job(%s)", (jobs[0][0],))


@pytest.fixture
def exchange() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def test_every_trade_stored_once_whatever_is_written_again(monkeypatch, pg_settings, exchange) -> None:
    # Trades three days old, so that TimescaleDB compresses their chunk before the replay.
    monkeypatch.setenv("OBM_CONTRACT_MAX_AGE_MS", str(10 * DAY_MS))
    old = (int(time.time()) - 3 * 86_400) * 1000
    trades = [
        _trade(exchange, "ETHUSDT", 1000 + i, old + 37 * i, side=("buy", "sell")[i % 2]) for i in range(40)
    ]
    # Exact decimals at the schema's limits, and the same trade id on another symbol (another trade).
    trades.append(
        _trade(exchange, "ETHUSDT", 2000, old + 5000, price="0.0000000001", size="9999999999.123456789")
    )
    trades.append(_trade(exchange, "BTCUSDT", 1000, old, price="99999999.9999999999", size="0.000000001"))
    bad = {**_trade(exchange, "ETHUSDT", 3000, old), "price": "-1"}
    sink = PostgresSink(pg_settings)
    sink.setup()
    try:
        result = sink.write(SinkBatch(_records([*trades[:30], bad])))
        assert len(result.dlq) == 1 and "price" in result.dlq[0]["reason"]
        assert result.stored == {Topic.TRADES: 30}
        if _on_timescaledb(pg_settings):
            require_timescaledb(pg_settings)
            _compress_trades(pg_settings)
            with psycopg.connect(pg_settings.conninfo()) as conn:
                compressed = conn.execute("select bool_and(is_compressed) from timescaledb_information.chunks "
                                          "where hypertable_name = 'trades' and range_end < now() - interval '2 days'"
                                          ).fetchone()  # fmt: skip
            assert compressed == (True,)
        # A replay of the first 20 beside the 12 not stored yet, then a replay of everything.
        assert not sink.write(SinkBatch(_records(trades[10:], offset=100))).dlq
        assert not sink.write(SinkBatch(_records(trades, offset=200))).dlq
    finally:
        sink.close()
    expected = sorted(trades, key=lambda t: (t["symbol"], int(t["trade_id"])))
    assert _stored(pg_settings, exchange) == [_as_row(t) for t in expected]
    if _on_timescaledb(pg_settings):
        with psycopg.connect(pg_settings.conninfo()) as conn:
            dims = conn.execute("select column_name from timescaledb_information.dimensions "
                                "where hypertable_name = 'trades'").fetchall()  # fmt: skip
        assert dims == [("ts",)]


def test_a_sink_killed_mid_stream_and_restarted_stores_every_trade_once(sink_env, pg_settings, tmp_path):
    n = 20_000  # at least several seconds of the sink, so the kill after 400 lands mid-stream
    symbols = ("ETHUSDT", "BTCUSDT", "SOLUSDT")
    for i in range(n):
        symbol = symbols[i % 3]
        sink_env.produce(Topic.TRADES, _trade(sink_env.exchange, symbol, i, sink_env.base_ms + i))
    sink_env.flush()
    env = sink_process_env(sink_env, pg=pg_settings, batch_max_records=200)
    log = str(tmp_path / "sink.log")

    def count() -> int:
        with psycopg.connect(pg_settings.conninfo(), connect_timeout=3) as conn:
            row = conn.execute(
                "select count(*) from trades where exchange = %s", (sink_env.exchange,)
            ).fetchone()
        assert row is not None
        return int(row[0])

    proc = start_sink_process("postgres", env, log)
    try:
        wait_for("some trades stored", lambda: count() >= 400, timeout_s=120)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        at_kill = count()
        assert at_kill < n, "the kill must land mid-stream"
        proc = start_sink_process("postgres", env, log)
        wait_for("every trade stored", lambda: count() >= n, timeout_s=180)
        # The sink caught up (its committed offsets at the end of the topic): nothing more can come.
        wait_for("the sink's offsets at the end", lambda: _group_lag(sink_env, env) == 0, timeout_s=60)
        with psycopg.connect(pg_settings.conninfo()) as conn:
            rows = conn.execute("select symbol, trade_id from trades where exchange = %s",
                                (sink_env.exchange,)).fetchall()  # fmt: skip
        assert sorted((s, int(t)) for s, t in rows) == sorted((symbols[i % 3], i) for i in range(n))
    finally:
        proc.terminate()
        assert proc.wait(30) == 0, open(log).read()[-3000:]


def _group_lag(sink_env, env: dict[str, str]) -> int:
    """Records of trades.raw behind the sink process's committed offsets."""
    name = sink_env.topic(Topic.TRADES)
    consumer = Consumer(consumer_config(sink_env.kafka, env["OBM_SINK_POSTGRES_GROUP"]))
    try:
        parts = consumer.list_topics(name, timeout=10).topics[name].partitions
        committed = consumer.committed([TopicPartition(name, p) for p in parts], timeout=10)
        lag = 0
        for tp in committed:
            _, high = consumer.get_watermark_offsets(tp, timeout=10)
            lag += high - max(tp.offset, 0)
        return lag
    finally:
        consumer.close()
