"""Thresholds table, export files, and the seeder's records against the topic schemas."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from bench import dashboard_seed as seed
from config import AlertSettings
from dashboard.export_files import file_name, to_bytes
from dashboard.thresholds import OVERRIDE_CSS, overridden_cells, thresholds_frame
from schemas import Topic, validator_for

pytestmark = pytest.mark.unit


def test_thresholds_apply_per_symbol_overrides():
    settings = AlertSettings(overrides={"BTCUSDT": {"imbalance_high": 0.8}})
    frame = thresholds_frame(settings, ["BTCUSDT", "ETHUSDT"])
    row = frame.set_index("threshold").loc["imbalance_high"]
    assert row["default"] == 0.7 and row["BTCUSDT"] == 0.8 and row["ETHUSDT"] == 0.7
    css = overridden_cells(settings, frame)
    marked = [(frame.loc[i, "threshold"], col) for col in css.columns for i in css.index if css.loc[i, col]]
    assert marked == [("imbalance_high", "BTCUSDT")]
    assert css.loc[frame["threshold"] == "imbalance_high", "BTCUSDT"].item() == OVERRIDE_CSS


def test_thresholds_follow_the_environment(monkeypatch):
    monkeypatch.setenv("OBM_ALERT_IMBALANCE_MEDIUM", "0.55")
    frame = thresholds_frame(AlertSettings(), ["SOLUSDT"])
    assert frame.set_index("threshold").loc["imbalance_medium", "SOLUSDT"] == 0.55


def _export_frame():
    return pd.DataFrame(
        {
            "ts": pd.to_datetime([1_723_161_240_123, 1_723_161_241_000], unit="ms", utc=True),
            "symbol": ["ETHUSDT", "ETHUSDT"],
            "mid": [2511.505, 2511.6],
        }
    )


def test_csv_export_writes_utc_times():
    text = to_bytes(_export_frame(), "CSV").decode()
    lines = text.splitlines()
    assert lines[0] == "ts,symbol,mid"
    assert lines[1].startswith("2024-08-08T23:54:00.123000Z,ETHUSDT,2511.505")


def test_parquet_export_round_trips():
    frame = _export_frame()
    back = pd.read_parquet(io.BytesIO(to_bytes(frame, "Parquet")))
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert str(back["ts"].dt.tz) == "UTC"


def test_export_file_name_says_what_is_inside():
    name = file_name("bars 1s", "binance:ETHUSDT", 1_723_161_240_000, 1_723_164_840_000, "Parquet")
    assert name == "obm_bars-1s_binance-ETHUSDT_20240808T2354Z_20240809T0054Z.parquet"
    with pytest.raises(ValueError):
        to_bytes(_export_frame(), "xlsx")


def test_seeded_records_follow_the_topic_schemas():
    tape = seed.make_tape("ETHUSDT", 1_723_161_240_000, 30, 2500.0, seed=3)
    for bar in seed.bars_of(tape):
        validator_for(Topic.BARS)(bar)
    book = seed.book_at(tape, 7)
    validator_for(Topic.RAW)(book)
    assert book["bid_prices"] == sorted(book["bid_prices"], reverse=True)
    assert book["ask_prices"] == sorted(book["ask_prices"])
    validator_for(Topic.PROCESSED)(seed.processed_of(book))
    validator_for(Topic.ALERTS)(seed.alert(tape, 5))
