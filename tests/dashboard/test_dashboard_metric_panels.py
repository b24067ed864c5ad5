"""The book-shape metrics on the pages: columns from the settings, cards (a depth that is only a
lower bound marked, velocity with the threshold in force), the overview's optional columns, the
picked imbalance level in the series, and the figures over time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from config import AlertSettings, MetricsJobSettings
from dashboard import metric_figures
from dashboard.metric_columns import DepthBand, MetricColumns, depth_bps
from dashboard.metric_panels import (
    depth_cards,
    flow_cards,
    overview_extras,
    overview_options,
    with_imbalance_of,
)
from dashboard.tables import metric_cards

pytestmark = pytest.mark.unit

COLUMNS = MetricColumns(
    AlertSettings(velocity_threshold=0.05, overrides={"BTCUSDT": {"velocity_threshold": 0.2}}),
    MetricsJobSettings(),
)

RECORD = {
    "event_time": 1_723_161_300_000,
    "imbalance_1": 0.9,
    "imbalance_5": 0.25,
    "imbalance_20": -0.1,
    "weighted_imbalance": 0.3125,
    "vtob_ratio": 0.1234,
    "imbalance_velocity": -0.08,
    "depth_bid_10bps": 12.5,
    "depth_ask_10bps": 7.25,
    "depth_complete_10bps": True,
    "depth_bid_50bps": 30.0,
    "depth_ask_50bps": 41.0,
    "depth_complete_50bps": False,
    "depth_bid_100bps": 30.0,
    "depth_ask_100bps": 41.0,
}


def test_depth_bands_are_named_as_the_metrics_job_names_them():
    from flink_jobs.metrics import depth_suffix

    for pct in (0.1, 0.5, 1.0, 0.25, 2.0):
        assert f"{depth_bps(pct)}bps" == depth_suffix(pct)
    assert [b.bps for b in COLUMNS.depth_bands] == [10, 50, 100]
    assert COLUMNS.depth_bands[0] == DepthBand(10)
    assert (DepthBand(50).bid, DepthBand(50).ask, DepthBand(50).complete) == (
        "depth_bid_50bps", "depth_ask_50bps", "depth_complete_50bps",
    )  # fmt: skip
    assert COLUMNS.imbalance_levels == [1, 5, 10, 20]
    assert COLUMNS.velocity_threshold("ETHUSDT") == 0.05 and COLUMNS.velocity_threshold("btcusdt") == 0.2


def test_a_depth_band_or_level_outside_the_schema_is_refused():
    with pytest.raises(ValueError, match="OBM_METRICS_DEPTH_PCTS"):
        MetricColumns(AlertSettings(), MetricsJobSettings(depth_pcts=[0.1, 0.2])).check()
    with pytest.raises(ValueError, match="imbalance_3 is not in the schema"):
        MetricColumns(AlertSettings(), MetricsJobSettings(imbalance_levels=[1, 3, 5])).check()
    COLUMNS.check()


def test_flow_cards_show_velocity_against_the_threshold_of_the_symbol():
    eth = {c.label: c for c in flow_cards(RECORD, COLUMNS, "ETHUSDT")}
    assert eth["Weighted imbalance"].value == "+0.312"
    assert eth["VTOB ratio"].value == "0.123"
    velocity = eth["Imbalance velocity /s"]
    assert (velocity.value, velocity.delta) == ("-0.080 ⚠", "alert at ±0.05") and velocity.note
    assert "(reached now)" in velocity.help
    btc = {c.label: c for c in flow_cards(RECORD, COLUMNS, "BTCUSDT")}
    assert (btc["Imbalance velocity /s"].value, btc["Imbalance velocity /s"].delta) == (
        "-0.080",
        "alert at ±0.2",
    )
    empty = flow_cards(None, COLUMNS, "ETHUSDT")
    assert [c.value for c in empty] == ["—", "—", "—"]


def test_depth_cards_mark_a_lower_bound_and_only_that():
    cards = {c.label: c for c in depth_cards(RECORD, COLUMNS)}
    assert (cards["Depth ±10 bps"].value, cards["Depth ±10 bps"].delta) == ("12.5 / 7.25", None)
    assert "Complete" in cards["Depth ±10 bps"].help
    assert (cards["Depth ±50 bps"].value, cards["Depth ±50 bps"].delta) == ("30 / 41", "≥ lower bound")
    assert "lower bound" in cards["Depth ±50 bps"].help
    assert cards["Depth ±100 bps"].delta is None  # no flag: no claim either way


def test_overview_extras_in_row_order_with_the_lower_bounds():
    options = overview_options(COLUMNS)
    assert options["Imbalance top-20"] == "imbalance_20"
    assert options["Bid depth ±50 bps"] == "depth_bid_50bps"
    chosen = ["Imbalance top-1", "Weighted imbalance", "Bid depth ±10 bps", "Ask depth ±50 bps"]
    values, bounds = overview_extras([RECORD, None], chosen, COLUMNS)
    assert list(values.columns) == chosen
    assert values.iloc[0].tolist() == [0.9, 0.3125, 12.5, 41.0]
    assert values.iloc[1].isna().all()
    assert bounds.iloc[0].tolist() == [False, False, False, True]
    assert not bounds.iloc[1].any()


def test_cards_follow_the_picked_level():
    cards = metric_cards(RECORD, pd.DataFrame(), RECORD["event_time"], COLUMNS, "ETHUSDT", level=20)
    imbalance = next(c for c in cards if c.label.startswith("Imbalance top-"))
    assert (imbalance.label, imbalance.value) == ("Imbalance top-20", "-0.100")
    assert "top 20 levels" in imbalance.help
    default = metric_cards(RECORD, pd.DataFrame(), RECORD["event_time"], COLUMNS, "ETHUSDT")
    assert any(c.label == "Imbalance top-5" and c.value == "+0.250" for c in default)


def _times(n: int) -> pd.DatetimeIndex:
    return pd.date_range("2024-08-09", periods=n, freq="10s", tz="UTC", name="time")


def test_the_series_takes_the_picked_level_from_the_stored_metrics_and_mid_from_the_bars():
    bars = pd.DataFrame(
        {"mid_close": [1.0, 2.0, 3.0], "imbalance_mean": [0.5] * 3, "imbalance_min": [0.4] * 3,
         "imbalance_max": [0.6] * 3},
        index=_times(3),
    )  # fmt: skip
    stored = pd.DataFrame(
        {"imbalance_20_mean": [-0.1, -0.2], "imbalance_20_min": [-0.3, -0.4], "imbalance_20_max": [0.0, 0.1]},
        index=_times(3)[1:],
    )
    series = with_imbalance_of(bars, stored, "imbalance_20")
    assert series["mid_close"].tolist() == [1.0, 2.0, 3.0]
    assert np.isnan(series["imbalance_mean"].iloc[0])
    assert series["imbalance_mean"].iloc[1:].tolist() == [-0.1, -0.2]
    assert series["imbalance_min"].iloc[2] == -0.4 and series["imbalance_max"].iloc[2] == 0.1


def _stored(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "weighted_imbalance": np.linspace(-0.2, 0.2, n),
            "vtob_ratio": np.full(n, 0.1),
            "depth_bid_10bps": np.arange(n, dtype=float),
            "depth_ask_10bps": np.arange(n, dtype=float) + 1,
            "depth_complete_10bps": [True, False, True, None][:n],
            "imbalance_velocity_mean": np.full(n, 0.01),
            "imbalance_velocity_min": np.full(n, -0.1),
            "imbalance_velocity_max": np.full(n, 0.1),
        },
        index=_times(n),
    )


def test_depth_series_marks_the_buckets_that_are_lower_bounds_on_both_sides():
    fig = metric_figures.depth_series(_stored(), [DepthBand(10)], MetricsJobSettings())
    names = [t.name for t in fig.data]
    assert names == ["bid ±10 bps", "ask ±10 bps", metric_figures.LOWER_BOUND_NAME]
    marks = fig.data[-1]
    assert list(marks.y) == [1.0, 2.0]  # the bid and the ask of the one incomplete bucket
    assert "10 bps" in fig.layout.title.text
    assert len(metric_figures.depth_series(pd.DataFrame(), [DepthBand(10)], MetricsJobSettings()).data) == 0


def test_velocity_series_draws_the_threshold_in_force_on_both_sides():
    fig = metric_figures.velocity_series(_stored(), 0.2, MetricsJobSettings())
    assert sorted(shape.y0 for shape in fig.layout.shapes) == [-0.2, 0.2]
    assert "|v| ≥ 0.2" in fig.layout.title.text and "top-5" in fig.layout.title.text
    assert [t.name for t in fig.data][-1] == "velocity"


def test_weighted_and_vtob_series_on_two_axes():
    fig = metric_figures.weighted_vtob_series(_stored(), MetricsJobSettings())
    assert [t.name for t in fig.data] == ["weighted imbalance", "VTOB ratio"]
    assert fig.data[1].yaxis == "y2" and list(fig.layout.yaxis2.range) == [0, 1.02]
