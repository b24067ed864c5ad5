"""pairs.analytics into PostgreSQL (plain and TimescaleDB, tests/pg_kinds.py) and Redis: every
field of each record stored as it came (closes exact as numeric, nulls as NULL, times as
timestamptz), a replayed batch stores nothing twice, a record that breaks the contract goes to
the DLQ records of the write; Redis holds each pair's newest record and the set of pairs."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import orjson
import psycopg
import pytest
from pg_kinds import require_timescaledb

from config.clients import redis_client
from schemas.redis_layout import RedisLayout
from schemas.registry import load_schema
from schemas.topics import Topic
from sinks.batching import SinkBatch, SinkRecord
from sinks.postgres_pairs import PAIRS
from sinks.postgres_sink import PostgresSink
from sinks.redis_sink import RedisSink

pytestmark = pytest.mark.integration

BASE_MS = (int(time.time()) - 600) * 1000


def _record(pair: str, second: int, **changes) -> dict:
    y, x = pair.split("/")
    example = load_schema(Topic.PAIRS)["examples"][0]
    return {
        **example,
        "pair": pair,
        "y": y,
        "x": x,
        "event_time": second,
        "adf_time": second - 3000,
        **changes,
    }


def _records(records: list[dict], offset: int = 0) -> list[SinkRecord]:
    return [
        SinkRecord(Topic.PAIRS, Topic.PAIRS.value, 0, offset + i, r["pair"].encode(), orjson.dumps(r), 1)
        for i, r in enumerate(records)
    ]


@pytest.fixture
def pair() -> str:
    return f"t{uuid.uuid4().hex[:8]}:ETHUSDT/t{uuid.uuid4().hex[:8]}:BTCUSDT"


def _as_row(record: dict) -> tuple:
    def at(ms):
        return datetime.fromtimestamp(ms / 1000, UTC) if ms is not None else None

    values = {**record, "y_close": Decimal(record["y_close"]), "x_close": Decimal(record["x_close"])}
    values["adf_time"] = at(record["adf_time"])
    return (at(record["event_time"]), *(values[c] for c in PAIRS.columns[1:]))


def test_postgres_stores_every_field_once(pg_settings, pair) -> None:
    first = _record(pair, BASE_MS)
    # A leg that did not move: the statistics are null, and no ADF has run yet.
    nulls = {f: None for f in ("beta", "alpha", "r_squared", "spread", "spread_mean", "spread_std", "zscore",
                               "return_corr", "half_life_s", "adf_stat", "adf_pvalue", "adf_lags", "adf_time")}  # fmt: skip
    second = _record(pair, BASE_MS + 1000, y_close="2511.1234567890", **nulls)
    bad = {**_record(pair, BASE_MS + 2000), "zscore": "high"}
    sink = PostgresSink(pg_settings)
    sink.setup()
    try:
        result = sink.write(SinkBatch(_records([first, second, bad])))
        assert [r["reason"] for r in result.dlq] and "zscore" in result.dlq[0]["reason"]
        replay = sink.write(SinkBatch(_records([first, second])))
        assert not replay.dlq
    finally:
        sink.close()
    columns = ", ".join(f'"{c}"' for c in PAIRS.columns)
    with psycopg.connect(pg_settings.conninfo()) as conn:
        rows = conn.execute(
            f"select {columns} from pair_analytics where pair = %s order by ts", (pair,)
        ).fetchall()
        on_timescaledb = conn.execute(
            "select exists (select 1 from pg_extension where extname = 'timescaledb')"
        ).fetchone() == (True,)
        if on_timescaledb:  # the TimescaleDB leg: pair_analytics is a hypertable on ts
            require_timescaledb(pg_settings)
            dims = conn.execute(
                "select column_name from timescaledb_information.dimensions where hypertable_name = 'pair_analytics'"
            ).fetchall()
            assert dims == [("ts",)]
    assert rows == [_as_row(first), _as_row(second)]


def test_redis_holds_the_newest_record_of_each_pair(redis_settings, pair) -> None:
    settings = redis_settings.model_copy(update={"key_prefix": f"t{uuid.uuid4().hex[:10]}"})
    sink, keys = RedisSink(settings), RedisLayout.from_settings(settings)
    client = redis_client(redis_settings, timeout_s=10)
    other = pair.replace("ETHUSDT", "SOLUSDT")
    try:
        batch = [_record(pair, BASE_MS), _record(other, BASE_MS), _record(pair, BASE_MS + 1000)]
        result = sink.write_records(_records(batch))
        assert result.stored == {Topic.PAIRS: 3} and not result.dlq
        later = sink.write_records(_records([_record(pair, BASE_MS + 2000, zscore=-1.25)], offset=3))
        assert later.stored == {Topic.PAIRS: 1}
        assert orjson.loads(client.get(keys.pair_latest(pair))) == _record(pair, BASE_MS + 2000, zscore=-1.25)
        assert orjson.loads(client.get(keys.pair_latest(other))) == _record(other, BASE_MS)
        assert 0 < client.ttl(keys.pair_latest(pair)) <= settings.latest_ttl_s
        assert {m.decode() for m in client.smembers(keys.pairs())} == {pair, other}
    finally:
        client.close()
        sink.close()
