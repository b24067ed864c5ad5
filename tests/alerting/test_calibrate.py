"""`obm alerts calibrate`'s proposal is what it says: per symbol and rule, the lowest grid threshold
whose rate is at most the rule's share of the target, checked by evaluating the rules again with
the proposed overrides (five simulated minutes, a one-minute warm-up)."""

from __future__ import annotations

import pytest

from config import AlertSettings
from obm.alerts.books import simulated_records
from obm.alerts.calibration import FIELDS, GRIDS, propose
from obm.alerts.evaluation import evaluate
from obm.alerts.features import processed_records

pytestmark = pytest.mark.unit
TARGET = 200.0  # per symbol and hour: 50 per rule, i.e. at most four alerts per rule in 5 minutes


def test_proposal_meets_the_target_with_the_lowest_threshold() -> None:
    records = processed_records(simulated_records(["BTCUSDT"], 300))
    base = {"*": {"warmup_ms": 60_000.0}}
    overrides, trials = propose(records, AlertSettings(adaptive_overrides=base), TARGET)
    assert set(overrides) == {"BTCUSDT"}
    settings = AlertSettings(adaptive_overrides=base | overrides)
    share = TARGET / len(GRIDS)
    raised = 0
    for report in evaluate(records, settings, "adaptive"):
        symbol = report.key.split(":")[1]
        for rule, rows in trials[report.key].items():
            chosen = overrides[symbol][FIELDS[rule][0]]
            rate = report.per_hour(rule)
            raised += len(report.alerts[rule])
            assert rate == next(r.per_hour for r in rows if r.value == chosen), (symbol, rule)
            lower = [r for r in rows if r.value < chosen]
            if rate <= share:
                assert all(r.per_hour > share for r in lower), (symbol, rule)  # the lowest that meets it
            else:  # nothing on the grid meets it: the highest threshold
                assert chosen == max(r.value for r in rows) and all(r.per_hour > share for r in rows)
    assert raised > 0  # the simulated minutes do raise something at the proposed thresholds
    assert any(
        r.alerts > 1 for rows in trials["binance:BTCUSDT"].values() for r in rows
    )  # and more lower down
