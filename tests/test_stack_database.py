"""The stored history on the stack's database, on plain PostgreSQL and on TimescaleDB (this module
is in TIMESCALEDB_LEG, tests/pg_kinds.py): what init-db.sql makes of each kind, retention, replayed
records landing in compressed chunks, and the 1 m / 1 h rollups against candles computed from the
1 s bars. Each test has a database of its own: they drop, compress and refresh whole tables."""

from __future__ import annotations

import ast
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import psycopg
import pytest
from pg_kinds import CONTINUOUS_AGGREGATES, HYPERTABLES, TIMESCALEDB_LEG, require_timescaledb

from bench import dashboard_seed as seed
from config import PostgresSettings
from config.settings import REPO_ROOT
from obm.stack.health import StartupFailed, free_port
from obm.stack.postgres_server import PostgresServer

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000


@pytest.fixture(autouse=True)
def old_records_welcome(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests store rows months old on purpose; the sinks' contract refuses records older than
    their topic's retention unless told otherwise."""
    monkeypatch.setenv("OBM_CONTRACT_MAX_AGE_MS", str(400 * DAY_MS))


@pytest.fixture
def fresh_db(pg_server: PostgresServer) -> PostgresSettings:
    """A new database on the leg's server, made by the stack's own provisioning (init-db.sql)."""
    settings = pg_server.settings.model_copy(update={"database": f"t{uuid.uuid4().hex[:12]}"})
    replace(pg_server, settings=settings).provision()
    return settings


def _on_timescaledb(settings: PostgresSettings) -> bool:
    with psycopg.connect(settings.conninfo()) as conn:
        return conn.execute("select 1 from pg_extension where extname = 'timescaledb'").fetchone() is not None


def _rows(settings: PostgresSettings, sql: str, *args: object) -> list[tuple]:
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        return conn.execute(sql, args or None).fetchall()


def _run_jobs(settings: PostgresSettings, proc: str, table: str) -> int:
    """Runs the TimescaleDB policy jobs `proc` of `table` now (the test server has no background
    scheduler); returns how many ran."""
    jobs = _rows(settings, "select job_id from timescaledb_information.jobs where proc_name = %s "
                           "and hypertable_name = %s", proc, table)  # fmt: skip
    with psycopg.connect(settings.conninfo(), autocommit=True) as conn:
        for (job_id,) in jobs:
            conn.execute("CALL run_job(%s)", (job_id,))
    return len(jobs)


def test_init_db_makes_the_storage_of_each_kind(pg_server, fresh_db):
    tsdb = pg_server.timescaledb()[0]
    assert _on_timescaledb(fresh_db) == tsdb
    if not tsdb:
        brin = {
            r[0]
            for r in _rows(fresh_db, "select indexname from pg_indexes where indexdef like '%USING brin%'")
        }
        assert brin == {"orderbook_metrics_ts_brin", "orderbook_snapshots_ts_brin",
                        "orderbook_bars_window_start_brin", "orderbook_alerts_ts_brin",
                        "trade_bars_window_start_brin", "pair_analytics_ts_brin", "trades_ts_brin"}  # fmt: skip
        views = {r[0] for r in _rows(fresh_db, "select table_name from information_schema.views")}
        assert CONTINUOUS_AGGREGATES <= views
        return
    require_timescaledb(fresh_db)
    hyper = dict(
        _rows(
            fresh_db, "select hypertable_name, compression_enabled from timescaledb_information.hypertables"
        )
    )
    assert hyper == {"orderbook_metrics": True, "orderbook_snapshots": True, "orderbook_bars": True,
                     "orderbook_alerts": False, "trade_bars": True, "pair_analytics": True,
                     "trades": True}  # fmt: skip
    dims = {r[0]: (r[1], r[2]) for r in _rows(fresh_db, "select hypertable_name, column_name, time_interval "
                                              "from timescaledb_information.dimensions")}  # fmt: skip
    assert {t: dims[t] for t in HYPERTABLES} == {
        "orderbook_metrics": ("ts", timedelta(days=1)),
        "orderbook_snapshots": ("ts", timedelta(days=1)),
        "orderbook_bars": ("window_start", timedelta(days=7)),
        "orderbook_alerts": ("ts", timedelta(days=30)),
        "trade_bars": ("window_start", timedelta(days=7)),
        "pair_analytics": ("ts", timedelta(days=1)),
        "trades": ("ts", timedelta(days=1)),
    }
    # Retention policies keep what orderbook_retention says (the table users edit).
    kept = dict(_rows(fresh_db, "select table_name, keep from orderbook_retention"))
    drop_after = {r[0]: r[1] for r in _rows(fresh_db, "select hypertable_name, (config->>'drop_after')::interval "
                                            "from timescaledb_information.jobs where proc_name = 'policy_retention'")}  # fmt: skip
    assert drop_after == {t: kept[t] for t in HYPERTABLES}
    # Every unique key column is a segmentby or orderby column: how a key is checked in a compressed chunk.
    compressed_cols: dict[str, set[str]] = {}
    for table, col in _rows(
        fresh_db, "select hypertable_name, attname from timescaledb_information.compression_settings"
    ):
        compressed_cols.setdefault(table, set()).add(col)
    keys = {
        "orderbook_metrics": {"exchange", "symbol", "ts", "sequence_id"},
        "orderbook_snapshots": {"exchange", "symbol", "ts"},
        "orderbook_bars": {"exchange", "symbol", "interval", "window_start"},
        "trade_bars": {"exchange", "symbol", "interval", "window_start"},
        "pair_analytics": {"pair", "ts"},
        "trades": {"exchange", "symbol", "trade_id", "ts"},
    }
    assert {t: keys[t] <= compressed_cols.get(t, set()) for t in keys} == dict.fromkeys(keys, True)
    caggs = dict(
        _rows(
            fresh_db, "select view_name, materialized_only from timescaledb_information.continuous_aggregates"
        )
    )
    assert caggs == dict.fromkeys(CONTINUOUS_AGGREGATES, False)  # real time: fresh buckets show at once


def test_every_entry_of_the_timescaledb_leg_names_tests_that_exist():
    """A renamed test would silently leave the TimescaleDB leg."""
    for entry in TIMESCALEDB_LEG:
        path, _, name = entry.partition("::")
        tree = ast.parse((REPO_ROOT / path).read_text())
        tests = {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
        assert tests and (not name or name in tests), entry


def test_the_timescaledb_leg_refuses_plain_postgresql(plain_pg_server):
    with pytest.raises(pytest.fail.Exception, match="plain PostgreSQL"):
        require_timescaledb(plain_pg_server.settings)


def test_retention_keeps_what_orderbook_retention_says(pg_server, fresh_db, new_tape):
    now = int(time.time()) * 1000
    ages_days = {"metrics": (10, 8, 6, 0.1), "bars": (125, 80, 1), "alerts": (125, 80, 1)}
    tapes = {
        (kind, age): new_tape(now - int(age * DAY_MS), 1) for kind, ages in ages_days.items() for age in ages
    }
    seed.store_postgres(
        fresh_db,
        metrics=[seed.processed_of(seed.book_at(t, 0)) for (k, _), t in tapes.items() if k == "metrics"],
        bars=[b for (k, _), t in tapes.items() if k == "bars" for b in seed.bars_of(t)],
        alerts=[seed.alert(t, 0) for (k, _), t in tapes.items() if k == "alerts"],
    )
    if _on_timescaledb(fresh_db):
        assert sum(_run_jobs(fresh_db, "policy_retention", f"orderbook_{k}") for k in ages_days) == 3
    _rows(fresh_db, "select * from orderbook_apply_retention()")  # after the policies: the same cut

    def ages_left(kind: str, table: str) -> set[float]:
        symbols = {r[0] for r in _rows(fresh_db, f"select symbol from {table}")}
        return {age for (k, age), t in tapes.items() if k == kind and t.symbol in symbols}

    # Kept 7 days (metrics), 90 days (bars, alerts). TimescaleDB drops whole chunks (1 day of metrics,
    # 7 days of bars, 30 of alerts), so the ages here are outside keep + one chunk, or inside keep.
    assert ages_left("metrics", "orderbook_metrics") == {6, 0.1}
    assert ages_left("bars", "orderbook_bars") == {80, 1}
    assert ages_left("alerts", "orderbook_alerts") == {80, 1}


def test_replayed_records_into_compressed_chunks_are_stored_once(pg_server, fresh_db, new_tape):
    """Old chunks are compressed after one chunk interval; a replay (a sink restarted from old
    offsets, `obm replay`) then writes into them: the unique keys must still hold there."""
    tape = new_tape(int(time.time()) * 1000 - 3 * DAY_MS, 600)
    books = [seed.book_at(tape, i) for i in range(600)]
    metrics = [seed.processed_of(b) for b in books]
    seed.store_postgres(fresh_db, metrics=metrics[:400], books=books[:400])
    if _on_timescaledb(fresh_db):
        assert _run_jobs(fresh_db, "policy_compression", "orderbook_metrics") == 1
        assert _run_jobs(fresh_db, "policy_compression", "orderbook_snapshots") == 1
        compressed = _rows(fresh_db, "select hypertable_name, bool_and(is_compressed) from "
                                     "timescaledb_information.chunks group by 1 order by 1")  # fmt: skip
        assert ("orderbook_metrics", True) in compressed and ("orderbook_snapshots", True) in compressed
    seed.store_postgres(fresh_db, metrics=metrics[200:], books=books[200:])  # 200 replayed, 200 new
    seed.store_postgres(fresh_db, metrics=metrics[:50], books=books[:50])  # only replayed
    seqs = [r[0] for r in _rows(fresh_db, "select sequence_id from orderbook_metrics where symbol = %s "
                                          "order by sequence_id", tape.symbol)]  # fmt: skip
    assert seqs == [b["sequence_id"] for b in books]
    snaps = _rows(fresh_db, "select count(*), count(distinct ts) from orderbook_snapshots where symbol = %s",
                  tape.symbol)  # fmt: skip
    assert snaps == [(600, 600)]


def _close(a: tuple, b: tuple) -> bool:
    return all(
        x == y if not isinstance(x, float) else math.isclose(x, y, rel_tol=1e-12)
        for x, y in zip(a, b, strict=True)
    )


def test_rollups_equal_candles_of_the_bars(pg_server, fresh_db, new_tape):
    hour_ms = 3_600_000
    start = (int(time.time()) * 1000 - 4 * hour_ms) // hour_ms * hour_ms
    tape = new_tape(start, 2 * 3600)
    seed.store_postgres(fresh_db, bars=seed.bars_of(tape))
    cols = "bucket, open, high, low, close, imbalance_mean, spread_bps_mean, ofi_sum, update_count"

    def check(view: str, width: str) -> None:
        got = _rows(fresh_db, f"select {cols} from {view} where exchange = %s and symbol = %s order by bucket",
                    seed.EXCHANGE, tape.symbol)  # fmt: skip
        want = _rows(fresh_db, f"select {cols} from orderbook_candles(%s::interval, %s, %s, "
                               "to_timestamp(%s / 1000.0), to_timestamp(%s / 1000.0))",
                     width, seed.EXCHANGE, tape.symbol, start, tape.end_ms())  # fmt: skip
        assert len(got) == {"1 minute": 120, "1 hour": 2}[width] and len(got) == len(want), view
        assert all(_close(g, w) for g, w in zip(got, want, strict=True)), view

    check("orderbook_bars_1m", "1 minute")
    check("orderbook_bars_1h", "1 hour")
    if _on_timescaledb(fresh_db):  # the same rows once materialized, by the policy and by a full refresh
        assert _run_jobs(fresh_db, "policy_refresh_continuous_aggregate", "orderbook_bars_1m") == 1
        assert _run_jobs(fresh_db, "policy_refresh_continuous_aggregate", "orderbook_bars_1h") == 1
        with psycopg.connect(fresh_db.conninfo(), autocommit=True) as conn:
            for view in CONTINUOUS_AGGREGATES:
                conn.execute(f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)")
        for schema, table in _rows(  # the aggregates of the book bars seeded here (not trade_bars_1h)
            fresh_db,
            "select materialization_hypertable_schema, materialization_hypertable_name "
            "from timescaledb_information.continuous_aggregates where view_name like 'orderbook_bars_%'",
        ):
            assert _rows(fresh_db, f'select count(*) from "{schema}"."{table}"')[0][0] > 0, table
        check("orderbook_bars_1m", "1 minute")
        check("orderbook_bars_1h", "1 hour")


def test_a_timescaledb_database_is_refused_by_a_server_without_it(timescaledb_server, stack_settings):
    """Its rows live in chunks that plain PostgreSQL does not see: starting it plain would show
    empty tables, so the stack refuses to."""
    stack = stack_settings.model_copy(
        update={"state_dir": stack_settings.state_dir / f"refuse{uuid.uuid4().hex[:6]}"}
    )
    settings = PostgresSettings(port=free_port(), timescaledb="on")
    server = PostgresServer(settings, stack, durable=False, background_jobs=False)
    server.start()
    server.stop()
    plain = replace(server, settings=settings.model_copy(update={"timescaledb": "off"}))
    try:
        with pytest.raises(StartupFailed, match="was made with TimescaleDB"):
            plain.start()
    finally:
        plain.stop()


def test_an_alerts_table_made_before_context_gets_it_and_keeps_its_rows(pg_server, fresh_db, new_tape):
    """init-db.sql on a database whose orderbook_alerts predates the alerts' `context` (issue 16)
    adds the jsonb column: the rows already there keep a null context, and an alert that carries
    one stores it as it came."""
    tape = new_tape(int(time.time()) * 1000 - 3_600_000, 60)
    old, new = seed.alert(tape, 10), {**seed.alert(tape, 20), "context": {"profile": "seed", "score": 0.74,
                                                                           "value": 0.74, "book": {"mid": 100.5}}}  # fmt: skip
    columns = [c for c in old if c != "schema_version"]
    times, at_ms = {"window_start", "window_end", "event_time"}, "timestamptz 'epoch' + %s * interval '1 ms'"
    with psycopg.connect(fresh_db.conninfo(), autocommit=True) as conn:
        conn.execute("ALTER TABLE orderbook_alerts DROP COLUMN context")
        conn.execute(  # a row as the sink stored it before: the sink of today refuses a table without context
            f"insert into orderbook_alerts (ts, {', '.join(columns)}) values "
            f"({at_ms}, {', '.join(at_ms if c in times else '%s' for c in columns)})",
            [old["event_time"], *(old[c] for c in columns)],
        )
    replace(pg_server, settings=fresh_db).apply_init_sql()
    assert _rows(fresh_db, "select data_type from information_schema.columns where table_name = "
                           "'orderbook_alerts' and column_name = 'context'") == [("jsonb",)]  # fmt: skip
    seed.store_postgres(fresh_db, alerts=[old, new])  # the old one again: stored once
    stored = _rows(fresh_db, "select alert_id, context from orderbook_alerts where symbol = %s order by ts",
                   tape.symbol)  # fmt: skip
    assert stored == [(old["alert_id"], None), (new["alert_id"], new["context"])]


@pytest.fixture
def new_tape() -> Callable[[int, int], seed.SymbolTape]:
    def make(start_ms: int, seconds: int) -> seed.SymbolTape:
        return seed.make_tape(f"D{uuid.uuid4().hex[:10].upper()}USDT", start_ms, seconds, 100.0, seed=3)

    return make
