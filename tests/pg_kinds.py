"""The two kinds of PostgreSQL the tests run on, and which tests run on both (tests/conftest.py
parametrises them): plain PostgreSQL for every test, TimescaleDB as well for the tests where the two
differ (hypertables, compression, retention, continuous aggregates, upserts into chunks, a sink
killed mid-stream, the dashboard's queries), not the whole suite twice."""

from __future__ import annotations

import psycopg
import pytest

from config import PostgresSettings

PLAIN, TIMESCALEDB = "plain", "timescaledb"
# Tests (a module, or module::test) that run on TimescaleDB as well as on plain PostgreSQL.
TIMESCALEDB_LEG = (
    "tests/test_stack_database.py",
    "tests/test_stack_services.py::test_postgres_runs_init_db_and_keeps_data_across_restart",
    "tests/sinks/test_sink_postgres.py::test_init_db_sql_runs_twice_and_matches_the_sinks_columns",
    "tests/sinks/test_sink_postgres.py::test_sigkill_mid_stream_then_restart_stores_every_record_exactly_once",
    "tests/sinks/test_sink_postgres.py::test_poison_records_reach_the_dlq_topic_and_table_and_good_ones_are_stored",
    "tests/sinks/test_sink_postgres.py::test_snapshots_keep_the_first_record_of_each_second",
    "tests/sinks/test_sink_postgres_paths.py",
    "tests/dashboard/test_dashboard_history_store.py",
    "tests/sinks/test_trade_bars_postgres.py",
    "tests/sinks/test_pairs_storage.py::test_postgres_stores_every_field_once",
    "tests/sinks/test_trades_storage.py",
)
HYPERTABLES = {
    "orderbook_metrics",
    "orderbook_snapshots",
    "orderbook_bars",
    "orderbook_alerts",
    "trade_bars",
    "pair_analytics",
    "trades",
}
CONTINUOUS_AGGREGATES = {"orderbook_bars_1m", "orderbook_bars_1h", "trade_bars_1h"}


def on_timescaledb_leg(nodeid: str) -> bool:
    return any(nodeid == t or nodeid.startswith(f"{t}::") for t in TIMESCALEDB_LEG)


def require_timescaledb(settings: PostgresSettings) -> None:
    """Fails the test unless the database runs TimescaleDB with the storage of init-db.sql: the
    TimescaleDB leg must never pass on plain PostgreSQL."""
    with psycopg.connect(settings.conninfo()) as conn:
        ext = conn.execute("select extversion from pg_extension where extname = 'timescaledb'").fetchone()
        if ext is None:
            pytest.fail(f"the TimescaleDB leg runs on plain PostgreSQL ({settings.host}:{settings.port})")
        hyper = {
            r[0] for r in conn.execute("select hypertable_name from timescaledb_information.hypertables")
        }
        caggs = {
            r[0] for r in conn.execute("select view_name from timescaledb_information.continuous_aggregates")
        }
    if not (HYPERTABLES <= hyper and CONTINUOUS_AGGREGATES <= caggs):
        pytest.fail(f"TimescaleDB {ext[0]} without the storage of init-db.sql: hypertables {sorted(hyper)}, "
                    f"continuous aggregates {sorted(caggs)}")  # fmt: skip
