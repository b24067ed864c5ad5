"""The rules engine's seed profile is today's rules exactly: the same alerts as the independent
reference of the alerts job (tests/flink/reference_alerts.py) on the crafted scenarios, with the
alerts written out by hand, and on random walks that cross every threshold."""

from __future__ import annotations

import pytest
from flink.alert_sequences import CRAFTED_SETTINGS, crafted, random_processed
from flink.reference_alerts import reference_alerts

from config import AlertSettings
from flink_jobs.alert_rules import run_rules

pytestmark = pytest.mark.unit


def _engine(records: list[dict], settings: AlertSettings) -> list[tuple]:
    return sorted(a.as_tuple() for a in run_rules(records, settings, "seed"))


def test_seed_profile_raises_the_crafted_alerts() -> None:
    records, expected = crafted()
    assert _engine(records, CRAFTED_SETTINGS) == expected
    assert reference_alerts(records, CRAFTED_SETTINGS) == expected


@pytest.mark.parametrize("seed", range(6))
def test_seed_profile_equals_the_reference_on_random_walks(seed: int) -> None:
    records = random_processed(4_000, seed=seed)
    settings = AlertSettings(overrides={"RNDBUSDT": {"cooldown_ms": 2_000, "imbalance_level": 10}})
    expected = reference_alerts(records, settings)
    assert len(expected) > 20  # the walks do cross the thresholds
    assert _engine(records, settings) == expected


def test_seed_profile_equals_the_reference_on_the_real_capture(capture_path) -> None:  # noqa: ANN001
    """ETHUSDT spot books as the producer makes them, their rule inputs, and today's rules: 41
    alerts in 5.8 minutes, the same as the reference's."""
    from obm.alerts.books import capture_records
    from obm.alerts.features import processed_records

    records = processed_records(capture_records(capture_path))
    expected = reference_alerts(records, AlertSettings())
    assert len(expected) == 41
    assert _engine(records, AlertSettings()) == expected
