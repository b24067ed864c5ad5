"""The rules' hit rates on the session's real PostgreSQL (dashboard/hit_rate_store.py): metrics,
1 s bars and alerts stored through the sink, then the store's few index probes per alert give
the moves `obm alerts evaluate`'s MidPath gives over every stored update, the baseline equals the
one of the bars' closes, and no query needs a whole-table scan. Every test uses symbols of its own."""

from __future__ import annotations

import time

import pytest

from bench import dashboard_seed as seed
from config import PostgresSettings
from dashboard.history_store import HistoryStore
from dashboard.hit_rate_store import (
    BAR_CLOSES_SQL,
    alert_mids_sql,
    measured_hit_rates,
    stored_alert_mids,
    stored_bar_closes,
)
from dashboard.hit_rates import (
    HIT_HORIZONS_MS,
    alert_direction,
    alert_move,
    baseline_moves,
    hit_rate_table,
    rule_moves,
)
from dashboard.time_window import TimeWindow
from obm.alerts.evaluation import MidPath
from tests.dashboard.test_dashboard_history_store import RecordingStore, _seq_scans

pytestmark = pytest.mark.integration

START_MS = (int(time.time()) - 2 * 3600) // 60 * 60_000
SECONDS = 300


@pytest.fixture
def store(pg_settings: PostgresSettings):
    history = HistoryStore(pg_settings)
    yield history
    history.close()


def _stored_symbol(pg_settings: PostgresSettings, symbol: str, alert_seconds: dict[int, tuple[str, float]]):
    """A symbol's updates (three per second, the middle one without a book side some seconds),
    its 1 s bars (mid_close = the last mid of the second) and alerts at given seconds; returns
    the updates as (event time, mid) in order."""
    tape = seed.make_tape(symbol, START_MS, SECONDS, 100.0, seed=len(alert_seconds))
    metrics, updates = [], []
    for i in range(SECONDS):
        for j, offset in enumerate((100, 400, 900)):
            rec = seed.processed_of(seed.book_at(tape, i))
            rec.update(event_time=START_MS + i * 1000 + offset, sequence_id=3 * i + j)
            rec["mid"] = round(rec["mid"] * (1 + 1e-4 * ((i * 3 + j) % 5 - 2)), 6)
            if i % 17 == 0 and j == 1:
                rec["mid"] = None  # an update without a mid: the one before holds
            metrics.append(rec)
            updates.append((rec["event_time"], rec["mid"]))
    bars = seed.bars_of(tape)
    for i, bar in enumerate(bars):
        mids = [m for t, m in updates[3 * i : 3 * i + 3] if m is not None]
        bar["mid_close"] = mids[-1]
    alerts = []
    for second, (rule, value) in alert_seconds.items():
        a = seed.alert(tape, second, alert_type=rule)
        a.update(
            metric_value=value,
            event_time=START_MS + second * 1000 + 400,
            window_end=START_MS + second * 1000 + 400,
        )
        a["alert_id"] += f":{second}"
        alerts.append(a)
    seed.store_postgres(pg_settings, metrics=metrics, bars=bars, alerts=alerts)
    return tape.key, updates, bars


def test_moves_and_baseline_from_the_store_equal_evaluates_over_every_update(pg_settings, store, new_symbol):
    a_alerts = {10: ("imbalance_extreme", -40.0), 50: ("imbalance_extreme", 60.0), 120: ("velocity_spike", 4.2),
                200: ("spread_widening", 7.0), 280: ("imbalance_flip", -1500.0), 299: ("imbalance_flip", 1200.0)}  # fmt: skip
    b_alerts = {30: ("imbalance_extreme", 55.0)}
    key_a, updates_a, bars_a = _stored_symbol(pg_settings, new_symbol("H"), a_alerts)
    key_b, _, _ = _stored_symbol(pg_settings, new_symbol("H"), b_alerts)
    window = TimeWindow(START_MS, START_MS + SECONDS * 1000)

    found = stored_alert_mids(store, window, [key_a])
    assert sorted((a.event_time - START_MS) // 1000 for a in found) == sorted(a_alerts)
    path = MidPath([t for t, _ in updates_a], [m for _, m in updates_a])  # every stored update
    with_move = 0
    for a in found:
        rule, value = a_alerts[(a.event_time - START_MS) // 1000]
        assert (a.key, a.alert_type, a.metric_value, a.data_end) == (key_a, rule, value, updates_a[-1][0])
        for h in HIT_HORIZONS_MS:
            full = path.move_bps(a.event_time, h)
            assert alert_move(a, h) == (None if full is None else alert_direction(rule, value) * full), (a, h)
            with_move += full is not None
    assert with_move == 2 * 5 - 1  # the alert at 280 s has no 30 s move, the one at 299 s neither

    closes = stored_bar_closes(store, window, [key_a, key_b])
    assert closes[key_a] == [
        (START_MS + (i + 1) * 1000 - 1, bar["mid_close"]) for i, bar in enumerate(bars_a)
    ]
    both = stored_alert_mids(store, window, [key_a, key_b], ["imbalance_extreme"])
    assert sorted(a.key for a in both) == sorted([key_a, key_a, key_b])
    table = measured_hit_rates(store, window, [key_a, key_b], (), ("imbalance_extreme", "imbalance_flip"))
    baselines = {k: baseline_moves(c) for k, c in closes.items()}
    want = hit_rate_table(rule_moves(stored_alert_mids(store, window, [key_a, key_b])), baselines,
                          ("imbalance_extreme", "imbalance_flip"))  # fmt: skip
    assert table.equals(want) and list(table["Alerts"]) == [3, 2]
    assert table.loc[0, "After 5 s"].startswith("n too small (n=")


def test_the_hit_rate_queries_have_an_index_path(pg_settings, pg_conn, new_symbol):
    store = RecordingStore(pg_settings)
    key = f"binance:{new_symbol()}"
    window = TimeWindow(START_MS, START_MS + 3_600_000)
    stored_alert_mids(store, window, [key], ["imbalance_flip"])
    stored_alert_mids(store, window)
    stored_bar_closes(store, window, [key])
    store.close()
    assert [sql for sql, _ in store.queries] == [alert_mids_sql(True), alert_mids_sql(False), BAR_CLOSES_SQL]
    with pg_conn.cursor() as cur:
        cur.execute("SET enable_seqscan = off")
        for sql, params in store.queries:
            cur.execute("EXPLAIN (FORMAT JSON) " + sql, params)
            assert _seq_scans(cur.fetchone()[0][0]["Plan"]) == [], sql
    pg_conn.rollback()
