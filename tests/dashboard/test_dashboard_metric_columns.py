"""Which processed columns the pages read: from the alert and metrics settings, checked against
the topic's schema and the levels the metrics job publishes."""

from __future__ import annotations

import pytest

from config import AlertSettings, MetricsJobSettings
from dashboard.metric_columns import MetricColumns

pytestmark = pytest.mark.unit


def test_columns_follow_the_settings_per_symbol():
    columns = MetricColumns(
        AlertSettings(imbalance_level=10, overrides={"BTCUSDT": {"imbalance_level": 1}}),
        MetricsJobSettings(baseline_imbalance_level=20),
    )
    columns.check()
    assert columns.imbalance("ETHUSDT") == "imbalance_10"
    assert columns.imbalance("btcusdt") == "imbalance_1"
    assert columns.imbalance_level("BTCUSDT") == 1
    assert columns.ofi == "ofi_5"
    assert columns.bars_imbalance_level == 20


@pytest.mark.parametrize(
    ("alerts", "metrics", "needle"),
    [
        (AlertSettings(imbalance_level=3), MetricsJobSettings(), "imbalance_level 3 names a column"),
        (
            AlertSettings(overrides={"BTCUSDT": {"imbalance_level": 10}}),
            MetricsJobSettings(imbalance_levels=[1, 5]),
            "(override of BTCUSDT)",
        ),
        (AlertSettings(), MetricsJobSettings(ofi_levels=10), "ofi_10 is not in the schema"),
    ],
)
def test_a_setting_naming_an_unpublished_column_is_refused_with_the_setting_named(alerts, metrics, needle):
    with pytest.raises(ValueError) as info:
        MetricColumns(alerts, metrics).check()
    assert needle in str(info.value)
