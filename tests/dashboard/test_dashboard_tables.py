"""Shaping of records into the overview, the alert feed, bars and metric cards."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from config import AlertSettings, MetricsJobSettings
from dashboard.metric_columns import MetricColumns
from dashboard.tables import (
    alert_feed_table,
    alerts_frame,
    bars_frame,
    filter_alerts,
    imbalance_bands,
    metric_cards,
    overview_frame,
    page_count,
    paginate,
    resample_bars,
    threshold_note,
    to_epoch_ms,
)

pytestmark = pytest.mark.unit

NOW = 1_723_161_300_000


def _columns(**alerts) -> MetricColumns:
    return MetricColumns(AlertSettings(**alerts), MetricsJobSettings())


def _latest(symbol: str, **values):
    return {"exchange": "binance", "symbol": symbol, "event_time": NOW - 2_500, **values}


def _alert(symbol: str, event_ms, severity="high", alert_type="imbalance_extreme", alert_id=None):
    return {
        "alert_id": alert_id or f"{alert_type}:{symbol}:{event_ms}",
        "alert_type": alert_type,
        "severity": severity,
        "exchange": "binance",
        "market": "spot",
        "symbol": symbol,
        "metric_value": 0.8,
        "threshold": 0.7,
        "event_time": event_ms,
        "message": f"{symbol} alert",
    }


def test_epoch_ms_from_every_time_shape():
    assert to_epoch_ms(1_723_161_240_123) == 1_723_161_240_123
    assert to_epoch_ms(datetime(2024, 8, 9, tzinfo=UTC)) == 1_723_161_600_000
    assert to_epoch_ms(datetime(2024, 8, 9)) == 1_723_161_600_000  # naive = UTC
    assert to_epoch_ms(pd.Timestamp("2024-08-09", tz="UTC")) == 1_723_161_600_000
    assert to_epoch_ms(None) is None


def test_overview_uses_the_configured_columns_and_keeps_expired_symbols():
    latest = {
        "binance:ETHUSDT": _latest(
            "ETHUSDT",
            mid=2511.5,
            imbalance_5=0.1,
            imbalance_10=0.42,
            spread_bps=0.04,
            ofi_5=3.2,
            ofi_1=1.0,
            microprice_lean_bps=0.2,
        ),
        "binance:BTCUSDT": None,  # expired in Redis
    }
    alerts = {"binance:ETHUSDT": _alert("ETHUSDT", NOW - 65_000, severity="medium")}
    frame = overview_frame(latest, alerts, NOW, _columns(imbalance_level=10))
    assert list(frame["Symbol"]) == ["BTCUSDT", "ETHUSDT"]
    eth = frame.set_index("Symbol").loc["ETHUSDT"]
    assert eth["Imbalance"] == pytest.approx(0.42)
    assert eth["Levels"] == 10
    assert eth["OFI"] == pytest.approx(3.2)  # ofi_{OBM_METRICS_OFI_LEVELS}, not top-1
    assert eth["Data age s"] == pytest.approx(2.5)
    assert eth["Last alert"] == "medium imbalance_extreme"
    assert eth["Alert age"] == "1 min ago"
    btc = frame.set_index("Symbol").loc["BTCUSDT"]
    assert pd.isna(btc["Mid"]) and pd.isna(btc["Data age s"]) and btc["Last alert"] == ""
    assert frame["Imbalance"].dtype == "float64"  # sortable as numbers, not objects


def test_overview_shows_no_other_level_when_the_record_lacks_the_configured_one():
    frame = overview_frame(
        {"binance:X1": _latest("X1", imbalance_5=-0.3, ofi_1=2.0)}, {}, NOW, _columns(imbalance_level=20)
    )
    assert pd.isna(frame.loc[0, "Imbalance"]) and pd.isna(frame.loc[0, "OFI"])


def test_overview_honours_per_symbol_alert_overrides():
    columns = _columns(overrides={"BTCUSDT": {"imbalance_level": 10, "imbalance_high": 0.9}})
    latest = {
        "binance:BTCUSDT": _latest("BTCUSDT", imbalance_5=0.8, imbalance_10=0.85),
        "binance:ETHUSDT": _latest("ETHUSDT", imbalance_5=0.8, imbalance_10=0.1),
    }
    frame = overview_frame(latest, {}, NOW, columns).set_index("Symbol")
    assert frame.loc["BTCUSDT", "Imbalance"] == pytest.approx(0.85)  # its override's top-10
    assert frame.loc["ETHUSDT", "Imbalance"] == pytest.approx(0.8)  # the default top-5
    assert list(frame["Levels"]) == [10, 5]
    bands = imbalance_bands(frame.index, columns)
    assert list(bands["high"]) == [0.9, 0.7] and list(bands["medium"]) == [0.5, 0.5]
    strong = frame["Imbalance"].abs().to_numpy() >= bands["high"].to_numpy()
    assert list(strong) == [False, True]  # 0.85 is below BTCUSDT's own 0.9


def test_threshold_note_names_the_overrides():
    assert threshold_note(AlertSettings(), "imbalance_high") == "0.7"
    alerts = AlertSettings(overrides={"ETHUSDT": {"imbalance_high": 0.8}, "BTCUSDT": {"cooldown_ms": 1}})
    assert threshold_note(alerts, "imbalance_high") == "0.7 by default, 0.8 for ETHUSDT"


def test_alerts_frame_accepts_redis_and_database_shapes_newest_first():
    redis_alert = _alert("ETHUSDT", NOW - 10_000)
    db_alert = {**_alert("BTCUSDT", 0), "event_time": datetime.fromtimestamp((NOW - 5_000) / 1000, tz=UTC)}
    frame = alerts_frame([redis_alert, db_alert])
    assert list(frame["symbol"]) == ["BTCUSDT", "ETHUSDT"]
    assert list(frame["event_time_ms"]) == [NOW - 5_000, NOW - 10_000]
    assert str(frame["time"].dt.tz) == "UTC"


def test_empty_alerts_frame_has_the_columns():
    frame = alerts_frame([])
    assert frame.empty and "severity" in frame.columns


def test_filters_combine_and_empty_means_all():
    frame = alerts_frame(
        [
            _alert("ETHUSDT", NOW - 1_000, "high"),
            _alert("ETHUSDT", NOW - 2_000, "low", "spread_widening"),
            _alert("BTCUSDT", NOW - 3_000, "high"),
            _alert("BTCUSDT", NOW - 90_000, "medium"),
        ]
    )
    assert len(filter_alerts(frame)) == 4
    assert list(filter_alerts(frame, severities=["high"])["symbol"]) == ["ETHUSDT", "BTCUSDT"]
    assert len(filter_alerts(frame, alert_types=["spread_widening"])) == 1
    assert len(filter_alerts(frame, symbols=["binance:BTCUSDT"])) == 2
    assert len(filter_alerts(frame, severities=["high"], symbols=["binance:BTCUSDT"])) == 1
    assert len(filter_alerts(frame, start_ms=NOW - 60_000, end_ms=NOW - 1_500)) == 2


def test_pagination_clamps_and_counts():
    frame = pd.DataFrame({"n": range(53)})
    assert page_count(53, 25) == 3
    assert page_count(0, 25) == 1
    assert list(paginate(frame, 1, 25)["n"])[:2] == [0, 1]
    assert list(paginate(frame, 3, 25)["n"]) == [50, 51, 52]
    assert list(paginate(frame, 9, 25)["n"]) == [50, 51, 52]  # past the end -> last page
    assert len(paginate(frame.iloc[:0], 1, 25)) == 0


def test_feed_table_shows_time_ago_and_values():
    table = alert_feed_table(alerts_frame([_alert("ETHUSDT", NOW - 30_000)]), NOW)
    assert table.loc[0, "When"] == "30 s ago"
    assert table.loc[0, "Severity"] == "high"
    assert table.loc[0, "Value"] == pytest.approx(0.8)
    assert table.loc[0, "Rule"] == ""  # a built-in alert


def test_feed_table_says_which_user_rule_fired():
    fired = {**_alert("ETHUSDT", NOW - 1_000), "alert_type": "user_rule", "rule_id": 7, "rule_name": "wide ETH",
             "rule_version": 3}  # fmt: skip
    table = alert_feed_table(alerts_frame([fired, _alert("BTCUSDT", NOW - 2_000)]), NOW)
    assert list(table["Rule"]) == ['7 "wide ETH" v3', ""]


def _bars(n: int, start_ms: int = NOW - 120_000):
    return [
        {
            "window_start": start_ms + i * 1000,
            "window_end": start_ms + (i + 1) * 1000,
            "mid_open": 100.0 + i,
            "mid_high": 100.5 + i,
            "mid_low": 99.5 + i,
            "mid_close": 101.0 + i,
            "imbalance_mean": 0.01 * i,
            "imbalance_min": -0.5,
            "imbalance_max": 0.5,
            "spread_bps_mean": 1.0,
            "spread_bps_max": 2.0,
            "ofi_sum": 1.0,
            "update_count": 10,
            "microprice_last": 101.0 + i,
        }
        for i in range(n)
    ]


def test_bars_frame_is_indexed_by_window_start_oldest_first():
    records = list(reversed(_bars(3)))
    frame = bars_frame(records)
    assert frame.index.is_monotonic_increasing
    assert frame.index[0] == pd.Timestamp(NOW - 120_000, unit="ms", tz="UTC")
    assert "window_start" not in frame.columns
    assert bars_frame([]).empty


def test_resample_builds_ohlc_and_sums():
    start = NOW - NOW % 10_000  # aligned so 20 bars make exactly two 10 s buckets
    frame = resample_bars(bars_frame(_bars(20, start)), 10)
    assert len(frame) == 2
    first = frame.iloc[0]
    assert first["mid_open"] == 100.0 and first["mid_close"] == 110.0
    assert first["mid_high"] == 109.5 and first["mid_low"] == 99.5
    assert first["ofi_sum"] == 10.0 and first["update_count"] == 100


def test_metric_cards_compare_with_the_bar_a_minute_ago():
    bars = bars_frame(_bars(120))  # bar i starts at NOW - 120 s + i s
    latest = {
        "mid": 250.0,
        "imbalance_5": 0.9,
        "spread_bps": 1.5,
        "microprice_lean_bps": 0.3,
        "event_time": NOW - 1_000,
    }
    cards = {c.label: c for c in metric_cards(latest, bars, NOW, _columns(), "ETHUSDT", lookback_s=60)}
    # The bar 60 s ago is i = 60: mid_close 161, imbalance_mean 0.60.
    assert cards["Mid"].delta == "+89"
    assert cards["Imbalance top-5"].value == "+0.900"
    assert cards["Imbalance top-5"].delta == "+0.300"
    assert cards["Spread bps"].delta == "+0.50"
    assert cards["OFI last 60 s"].value == "+59.00"  # bars i = 61..119 are newer than the cutoff
    assert cards["Data age"].value == "1.0 s"


def test_metric_cards_without_data_show_dashes_and_no_deltas():
    cards = metric_cards(None, bars_frame([]), NOW, _columns(), "ETHUSDT")
    assert all(c.delta is None for c in cards)
    assert {c.value for c in cards} <= {"—", "expired"}


def test_the_imbalance_card_of_an_overridden_level_has_no_change_against_other_level_bars():
    bars = bars_frame(_bars(120))  # imbalance_mean is the bars job's top-5
    latest = {"mid": 250.0, "imbalance_5": 0.9, "imbalance_20": -0.2, "event_time": NOW - 1_000}
    columns = _columns(overrides={"ETHUSDT": {"imbalance_level": 20}})
    cards = {c.label: c for c in metric_cards(latest, bars, NOW, columns, "ETHUSDT")}
    assert cards["Imbalance top-20"].value == "-0.200"
    assert cards["Imbalance top-20"].delta is None
    assert "the bars hold top-5" in cards["Imbalance top-20"].help
