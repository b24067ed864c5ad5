"""HistoryStore against the session's real PostgreSQL (init-db.sql applied), seeded through the
tables of the storage contract. Every test uses symbols of its own."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from bench import dashboard_seed as seed
from config import PostgresSettings
from dashboard.health import Status, check_postgres
from dashboard.history_store import HistoryStore, HistoryUnavailable
from dashboard.tables import bars_frame, resample_bars
from dashboard.time_window import TimeWindow
from obm.stack.health import free_port
from tests.dashboard.analytics_rows import seed_trades
from tests.dashboard.processed_records import processed_history

pytestmark = pytest.mark.integration

# An aligned start so buckets of 60 s line up with the SQL's date_bin origin (2000-01-01).
START_MS = (int(time.time()) - 3 * 3600) // 3600 * 3600 * 1000


@pytest.fixture
def store(pg_settings: PostgresSettings):
    history = HistoryStore(pg_settings)
    yield history
    history.close()


def test_bars_as_stored_and_bucketed_match_the_records(pg_settings, store, new_symbol):
    tape = seed.make_tape(new_symbol(), START_MS, 600, 2500.0, seed=11)
    bars = seed.bars_of(tape)
    seed.store_postgres(pg_settings, bars=bars)
    window = TimeWindow(START_MS + 60_000, START_MS + 300_000)

    raw = store.bars(tape.key, window, 1)
    assert len(raw) == 240
    assert raw.index[0] == pd.Timestamp(START_MS + 60_000, unit="ms", tz="UTC")
    assert raw["mid_close"].iloc[-1] == pytest.approx(bars[299]["mid_close"])

    bucketed = store.bars(tape.key, window, 60)
    expected = resample_bars(bars_frame(bars[60:300]), 60)
    assert list(bucketed.index) == list(expected.index)
    for column in (
        "mid_open",
        "mid_high",
        "mid_low",
        "mid_close",
        "imbalance_min",
        "imbalance_max",
        "ofi_sum",
        "microprice_last",
    ):
        np.testing.assert_allclose(bucketed[column], expected[column], rtol=1e-12, err_msg=column)
    # update_count is 10 everywhere, so the count-weighted mean equals the plain mean.
    np.testing.assert_allclose(bucketed["imbalance_mean"], expected["imbalance_mean"], rtol=1e-9)
    assert bucketed["update_count"].tolist() == [600.0] * 4


def test_bars_stay_inside_symbol_and_window(pg_settings, store, new_symbol):
    a = seed.make_tape(new_symbol(), START_MS, 120, 100.0, seed=1)
    b = seed.make_tape(new_symbol(), START_MS, 120, 200.0, seed=2)
    seed.store_postgres(pg_settings, bars=seed.bars_of(a) + seed.bars_of(b))
    frame = store.bars(a.key, TimeWindow(START_MS + 10_000, START_MS + 20_000), 1)
    assert len(frame) == 10 and frame["mid_close"].max() < 150
    assert store.bars(a.key, TimeWindow(START_MS - 60_000, START_MS), 5).empty


def test_snapshots_are_sampled_one_per_bucket(pg_settings, store, new_symbol):
    tape = seed.make_tape(new_symbol(), START_MS, 300, 100.0, seed=3)
    seed.store_postgres(pg_settings, books=(seed.book_at(tape, i) for i in range(300)))
    frame = store.snapshots(tape.key, TimeWindow(START_MS, START_MS + 300_000), 30)
    assert len(frame) == 10
    # First snapshot of each bucket: the second the bucket starts.
    assert [t.timestamp() * 1000 for t in frame["ts"]] == [START_MS + i * 30_000 for i in range(10)]
    assert list(frame.loc[0, "bid_prices"]) == seed.book_at(tape, 0)["bid_prices"]


def test_alert_filters_pagination_and_count(pg_settings, store, new_symbol):
    a = seed.make_tape(new_symbol(), START_MS, 600, 100.0, seed=4)
    b = seed.make_tape(new_symbol(), START_MS, 600, 100.0, seed=5)
    alerts = [seed.alert(a, i * 10, ["high", "low"][i % 2]) for i in range(30)]
    alerts += [seed.alert(b, i * 10, "medium", "spread_widening") for i in range(5)]
    seed.store_postgres(pg_settings, alerts=alerts)
    seed.store_postgres(pg_settings, alerts=alerts[:3])  # a redelivery changes nothing
    window = TimeWindow(START_MS, START_MS + 600_000)
    keys = (a.key, b.key)

    rows, total = store.alerts(window, keys=keys, limit=10)
    assert total == 35 and len(rows) == 10
    times = [r["event_time"] for r in rows]
    assert times == sorted(times, reverse=True)

    page2, _ = store.alerts(window, keys=keys, limit=10, offset=10)
    assert not {r["alert_id"] for r in rows} & {r["alert_id"] for r in page2}

    high, n_high = store.alerts(window, keys=keys, severities=["high"], limit=100)
    assert n_high == 15 and {r["severity"] for r in high} == {"high"}
    spread, n_spread = store.alerts(window, keys=keys, alert_types=["spread_widening"], limit=100)
    assert n_spread == 5 and {r["symbol"] for r in spread} == {b.symbol}
    only_a, n_a = store.alerts(window, keys=(a.key,), limit=100)
    assert n_a == 30
    narrow, n_narrow = store.alerts(TimeWindow(START_MS, START_MS + 50_000), keys=keys, limit=100)
    assert n_narrow == 10  # alerts at 0..40 s of each symbol (+0.5 s)


def test_latest_metrics_last_alerts_and_known_symbols(pg_settings, store, new_symbol):
    now = int(time.time()) * 1000
    tape = seed.make_tape(new_symbol(), now - 120_000, 120, 100.0, seed=6)
    old = seed.make_tape(new_symbol(), now - 3 * 86_400_000, 60, 100.0, seed=7)
    seed.store_postgres(
        pg_settings, metrics=[seed.processed_of(seed.book_at(tape, i)) for i in range(100, 120)]
    )
    seed.store_postgres(pg_settings, alerts=[seed.alert(tape, 50, "low"), seed.alert(tape, 90, "high")])
    seed.store_postgres(pg_settings, bars=seed.bars_of(tape) + seed.bars_of(old))
    since = datetime.fromtimestamp((now - 3_600_000) / 1000, tz=UTC)

    latest = store.latest_metrics([tape.key, old.key], since)
    assert set(latest) == {tape.key}
    assert latest[tape.key]["sequence_id"] == seed.book_at(tape, 119)["sequence_id"]
    last = store.last_alerts([tape.key], since)
    assert last[tape.key]["severity"] == "high"

    known = store.known_symbols(since)
    assert tape.key in known and old.key not in known  # old has no bar in the last hour
    assert old.key in store.known_symbols(datetime.fromtimestamp((now - 4 * 86_400_000) / 1000, tz=UTC))


def test_export_is_bounded_by_symbol_time_and_rows(pg_settings, store, new_symbol):
    tape = seed.make_tape(new_symbol(), START_MS, 100, 100.0, seed=8)
    seed.store_postgres(pg_settings, bars=seed.bars_of(tape))
    window = TimeWindow(START_MS + 10_000, START_MS + 60_000)
    frame = store.export("bars 1s", tape.key, window, max_rows=1_000)
    assert len(frame) == 50 and set(frame["symbol"]) == {tape.symbol}
    assert store.export("bars 1m", tape.key, window, max_rows=1_000).empty
    assert len(store.export("bars 1s", tape.key, window, max_rows=20)) == 21  # one extra says "cut"


def test_the_export_page_exports_the_stored_trades_of_a_symbol(pg_settings, store):
    key, trades = seed_trades(pg_settings, count=30)
    now = int(time.time() * 1000)
    frame = store.export("trades", key, TimeWindow(now - 3_600_000, now + 60_000), max_rows=1_000)
    assert list(frame["trade_id"]) == [t["trade_id"] for t in trades]
    assert [str(p) for p in frame["price"]] == [t["price"] for t in trades]  # exact numeric


def test_database_down_fails_fast_and_recovers(pg_settings):
    down = HistoryStore(pg_settings.model_copy(update={"port": free_port()}), retry_after_s=60)
    with pytest.raises(HistoryUnavailable):
        down.ping()
    first_failure = down._failed_at
    with pytest.raises(HistoryUnavailable, match="PostgreSQL"):  # refused from memory, no new connect
        down.bars("binance:BTCUSDT", TimeWindow(0, 1000), 1)
    assert down._failed_at == first_failure and down._conn is None
    assert check_postgres(down).status is Status.DOWN
    up = HistoryStore(pg_settings)
    assert check_postgres(up).status is Status.UP
    up.close()


class RecordingStore(HistoryStore):
    """Runs the queries and keeps them, so the test can ask PostgreSQL how it would run them."""

    def __init__(self, settings):
        super().__init__(settings)
        self.queries = []

    def _query(self, sql, params=None):
        self.queries.append((sql, params))
        return super()._query(sql, params)


# The tables, and under TimescaleDB their chunks (compressed ones too): a leg on each is run.
STORED_RELATIONS = ("orderbook_", "trades", "_hyper_", "compress_hyper_")


def _seq_scans(plan) -> list[str]:
    found = []
    if plan.get("Node Type") == "Seq Scan" and str(plan.get("Relation Name", "")).startswith(
        STORED_RELATIONS
    ):
        found.append(plan["Relation Name"])
    for child in plan.get("Plans", []):
        found += _seq_scans(child)
    return found


def test_every_query_has_an_index_path(pg_settings, pg_conn, new_symbol):
    """No query may need to read a whole table: with sequential scans priced out, every plan must
    reach the rows through an index (the keys of init-db.sql or its BRIN time indexes)."""
    store = RecordingStore(pg_settings)
    key = f"binance:{new_symbol()}"
    window = TimeWindow(START_MS, START_MS + 3_600_000)
    since = window.start
    store.bars(key, window, 1)
    store.bars(key, window, 60)
    store.snapshots(key, window, 30)
    store.alerts(window, limit=10)
    store.alerts(window, keys=[key], severities=["high"], alert_types=["imbalance_flip"], limit=10)
    store.latest_metrics([key], since)
    store.last_alerts([key], since)
    store.known_symbols(since)
    for kind in ("metrics", "bars 1s", "bars 1m", "alerts", "trades"):
        store.export(kind, key, window, 100)
    store.close()
    assert len(store.queries) == 15  # alerts() asks twice: the page and the count
    with pg_conn.cursor() as cur:
        cur.execute("SET enable_seqscan = off")
        for sql, params in store.queries:
            cur.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            plan = cur.fetchone()[0][0]["Plan"]
            assert _seq_scans(plan) == [], sql
    pg_conn.rollback()


def test_metric_series_buckets_the_stored_metrics(pg_settings, store, new_symbol):
    """Means per bucket, min/max of the ranged columns, depth completeness as 'complete in every
    update of the bucket', from orderbook_metrics as the sink stored it."""
    tape = seed.make_tape(new_symbol(), START_MS, 600, 61_000.0, seed=5)
    history = processed_history(tape, 600, 1)
    seed.store_postgres(pg_settings, metrics=history)
    window = TimeWindow(START_MS, START_MS + 600_000)
    frame = store.metric_series(
        tape.key,
        window,
        60,
        means=("weighted_imbalance", "depth_bid_50bps"),
        ranges=("imbalance_velocity", "imbalance_20"),
        all_true=("depth_complete_10bps", "depth_complete_50bps"),
    )
    expected = pd.DataFrame(history)
    expected.index = pd.to_datetime(expected["event_time"], unit="ms", utc=True)
    buckets = expected.resample("60s")
    assert list(frame.index) == list(buckets.size().index)
    np.testing.assert_allclose(frame["weighted_imbalance"], buckets["weighted_imbalance"].mean(), rtol=1e-12)
    np.testing.assert_allclose(frame["depth_bid_50bps"], buckets["depth_bid_50bps"].mean(), rtol=1e-12)
    np.testing.assert_allclose(frame["imbalance_20_min"], buckets["imbalance_20"].min(), rtol=1e-12)
    np.testing.assert_allclose(frame["imbalance_20_max"], buckets["imbalance_20"].max(), rtol=1e-12)
    # velocity is NULL on the first update: the mean skips it, as pandas does.
    np.testing.assert_allclose(
        frame["imbalance_velocity_mean"], buckets["imbalance_velocity"].mean(), rtol=1e-9
    )
    assert frame["depth_complete_10bps"].tolist() == buckets["depth_complete_10bps"].all().tolist()
    assert frame["depth_complete_50bps"].tolist() == [False] * len(frame)  # 20 levels never reach 50 bps
    assert store.metric_series(
        tape.key, TimeWindow(START_MS - 60_000, START_MS), 60, means=("vtob_ratio",)
    ).empty
