"""The rule inputs `obm alerts evaluate` computes from a capture (obm/alerts/features.py, through
the producer's own book code) equal the independent numpy reference of the metrics
(tests/flink/reference_metrics.py) on the real Binance capture, to 1e-9."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from flink.reference_metrics import reference_metrics

from config import MetricsJobSettings
from obm.alerts.books import capture_records
from obm.alerts.features import KEY_FIELDS, processed_records

pytestmark = pytest.mark.unit


def test_capture_features_equal_the_reference_metrics(capture_path: Path) -> None:
    raws = capture_records(capture_path)
    assert len(raws) > 3_000 and {r["symbol"] for r in raws} == {"ETHUSDT"}
    mine = processed_records(raws)
    ref = reference_metrics(raws[:1_500], MetricsJobSettings())  # the reference is quadratic
    compared = 0
    for rec in mine[:1_500]:
        want = ref[(rec["exchange"], rec["symbol"], rec["sequence_id"])]
        for name, value in rec.items():
            if name in KEY_FIELDS:
                continue
            expected = want[name]
            assert (value is None) == (expected is None), name
            if value is not None:
                assert math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-12), (name, value, expected)
                compared += 1
    assert compared > 1_500 * 15
