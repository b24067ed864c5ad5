"""The alerts job's logic on bounded inputs in a local Flink cluster: crafted scenarios that must
raise exactly the alerts written out by hand (and ones that must raise none), and a random walk
compared with the independent reference in reference_alerts.py. One Flink run serves all of
them (each scenario is its own symbol)."""

from __future__ import annotations

import heapq
from dataclasses import asdict
from types import SimpleNamespace

import pytest

from config import AlertSettings
from flink_jobs.alert_cooldown import (
    Candidate,
    CooldownFunction,
    LastAlert,
    admit,
    alert_id,
    alert_message,
    alert_row,
    decide,
)
from flink_jobs.alert_patterns import check_alert_settings
from flink_jobs.alerts import alerts_table
from schemas import Topic, validator_for
from tests.flink.alert_sequences import CRAFTED_SETTINGS, crafted, random_processed
from tests.flink.conftest import run_bounded_in
from tests.flink.reference_alerts import as_tuple, reference_alerts

RANDOM_SYMBOLS = ("RNDAUSDT", "RNDBUSDT", "RNDCUSDT")


@pytest.fixture(scope="module")
def alert_run(local_stream_table_env, tmp_path_factory):
    """(input records, output alerts) of one bounded run over every crafted scenario and a random
    walk of three more symbols."""
    scenarios, _ = crafted()
    walk = random_processed(3_000, seed=17, symbols=RANDOM_SYMBOLS)
    # interleaved by time, each list keeping its own order (the walk's records a little out of order)
    records = list(heapq.merge(scenarios, walk, key=lambda r: r["event_time"]))
    folder = tmp_path_factory.mktemp("alerts") / "in"
    rows = run_bounded_in(
        local_stream_table_env, folder, Topic.PROCESSED, records, lambda t: alerts_table(t, CRAFTED_SETTINGS)
    )
    return records, rows


@pytest.mark.integration
def test_crafted_sequences_raise_exactly_the_expected_alerts(alert_run):
    _, rows = alert_run
    _, expected = crafted()
    got = sorted(as_tuple(r) for r in rows if not r["symbol"].startswith("RND"))
    assert got == expected


@pytest.mark.integration
def test_random_walk_alerts_match_the_reference(alert_run):
    records, rows = alert_run
    random_records = [r for r in records if r["symbol"] in RANDOM_SYMBOLS]
    expected = reference_alerts(random_records, CRAFTED_SETTINGS)
    got = sorted(as_tuple(r) for r in rows if r["symbol"] in RANDOM_SYMBOLS)
    assert got == expected
    # the walk exercises every alert type and the cooldown, so the comparison above means something
    kinds = {(a[0], a[1]) for a in expected}
    assert {"imbalance_extreme", "imbalance_flip", "spread_widening", "velocity_spike"} <= {
        k for k, _ in kinds
    }
    assert ("imbalance_extreme", "high") in kinds and ("imbalance_extreme", "medium") in kinds
    uncooled = reference_alerts(random_records, AlertSettings(cooldown_ms=0))
    assert len(uncooled) > len(expected) + 20


@pytest.mark.integration
def test_alert_records_follow_the_contract(alert_run):
    _, rows = alert_run
    validate = validator_for(Topic.ALERTS)
    for row in rows:
        assert row.pop("record_key") == f"{row['exchange']}:{row['symbol']}"
        validate(row)
        assert row["event_time"] == row["window_end"] >= row["window_start"]
        assert row["alert_id"] == (
            f"{row['alert_type']}:{row['exchange']}:{row['symbol']}:{row['window_start']}:{row['severity']}"
        )
    assert len({r["alert_id"] for r in rows}) == len(rows)
    by_symbol = {(r["exchange"], r["symbol"], r["alert_type"]): r for r in rows}
    assert by_symbol[("binance", "AAAUSDT", "imbalance_extreme")]["message"] == (
        "AAAUSDT top-5 imbalance +0.52 >= 0.50 for 1.0 s (bid-heavy)"
    )
    assert by_symbol[("binance", "FFFUSDT", "imbalance_extreme")]["message"] == (
        "FFFUSDT top-5 imbalance -0.80 <= -0.70 for 1.0 s (ask-heavy)"
    )
    assert "top-10" in by_symbol[("binance", "MMMUSDT", "imbalance_extreme")]["message"]
    assert by_symbol[("binance", "IIIUSDT", "spread_widening")]["message"] == (
        "IIIUSDT spread 5.00 bps is 2.50x its rolling mean (>= 2.00x) for 1.0 s"
    )


@pytest.mark.unit
def test_reference_agrees_with_the_hand_written_expectations():
    records, expected = crafted()
    assert reference_alerts(records, CRAFTED_SETTINGS) == expected


def _candidate(
    t: int, severity: str = "medium", cooldown_ms: int = 30_000, start: int | None = None
) -> Candidate:
    return Candidate(
        "imbalance_extreme",
        severity,
        "binance",
        "spot",
        "ETHUSDT",
        0.6,
        0.5,
        t - 1000 if start is None else start,
        t,
        t,
        cooldown_ms,
        5.0,
    )


@pytest.mark.unit
def test_cooldown_rule():
    assert admit(None, _candidate(0))
    assert not admit(LastAlert(0, 2), _candidate(29_999))
    assert admit(LastAlert(0, 2), _candidate(30_000))
    assert admit(LastAlert(0, 2), _candidate(10, "high"))
    assert not admit(LastAlert(0, 3), _candidate(10, "high"))
    assert not admit(LastAlert(0, 3), _candidate(10, "low"))
    assert admit(LastAlert(0, 2), _candidate(10, cooldown_ms=0))


@pytest.mark.unit
def test_decide_takes_what_is_due_in_event_time_and_severity_order():
    medium, high, later = _candidate(5_000), _candidate(5_000, "high"), _candidate(9_000)
    raised, waiting, last = decide([later, medium, high], None, 5_000)
    assert raised == [high] and waiting == [later] and last == LastAlert(5_000, 3)
    raised, waiting, last = decide(waiting, last, 9_000)
    assert raised == [] and waiting == [] and last == LastAlert(5_000, 3)  # inside the cooldown


class _ListState:
    def __init__(self) -> None:
        self.items: list = []

    def get(self) -> list:
        return self.items

    def add(self, item) -> None:
        self.items.append(item)

    def update(self, items: list) -> None:
        self.items = items

    def clear(self) -> None:
        self.items = []


class _ValueState:
    def __init__(self) -> None:
        self.current = None

    def value(self):
        return self.current

    def update(self, value) -> None:
        self.current = value


class _Context:
    """The cooldown's view of its timer service: the current watermark and registered timers."""

    def __init__(self, watermark: int) -> None:
        self.watermark, self.timers = watermark, []

    def timer_service(self) -> _Context:
        return self

    def current_watermark(self) -> int:
        return self.watermark

    def register_event_time_timer(self, t: int) -> None:
        self.timers.append(t)


def _cooldown() -> CooldownFunction:
    function = CooldownFunction()
    function.pending, function.last = _ListState(), _ValueState()
    return function


def _row(candidate: Candidate) -> SimpleNamespace:
    return SimpleNamespace(**asdict(candidate))


@pytest.mark.unit
def test_cooldown_waits_for_the_watermark_but_decides_a_late_candidate_at_once():
    function = _cooldown()
    on_time = _Context(watermark=1_000)
    assert function.process_element(_row(_candidate(5_000)), on_time) == []
    assert on_time.timers == [5_000]
    assert function.on_timer(5_000, on_time) == [alert_row(_candidate(5_000))]
    # behind the watermark (an idle input resumed): no timer could fire for it, so it is decided now
    late = _Context(watermark=60_000)
    assert function.process_element(_row(_candidate(40_000)), late) == [alert_row(_candidate(40_000))]
    assert late.timers == []
    assert function.process_element(_row(_candidate(50_000)), late) == []  # inside its cooldown
    assert function.pending.get() == []


@pytest.mark.unit
def test_alert_id_is_a_function_of_the_episode():
    a, b = _candidate(5_000), _candidate(5_000)
    assert alert_id(a) == alert_id(b) == "imbalance_extreme:binance:ETHUSDT:4000:medium"
    assert alert_id(_candidate(5_000, "high")) != alert_id(a)
    assert alert_id(_candidate(5_000, start=3_000)) != alert_id(a)
    assert alert_message(a) == "ETHUSDT top-5 imbalance +0.60 >= 0.50 for 1.0 s (bid-heavy)"


@pytest.mark.unit
@pytest.mark.parametrize(
    "settings, match",
    [
        (AlertSettings(imbalance_clear=0.5), "imbalance_clear < imbalance_medium"),
        (AlertSettings(imbalance_high_clear=0.75), "imbalance_high_clear < imbalance_high"),
        (AlertSettings(spread_widening_k=1.0), "spread_widening_k"),
        (AlertSettings(imbalance_level=3), "imbalance_level"),
        (AlertSettings(overrides={"BTCUSDT": {"imbalance_level": 7}}), "override of BTCUSDT"),
        (AlertSettings(overrides={"BTCUSDT": {"imbalance_hgih": 0.8}}), "unknown alert settings"),
        (AlertSettings(flip_window_ms=0), "durations"),
    ],
)
def test_settings_that_cannot_describe_an_alert_are_refused(settings, match):
    with pytest.raises(ValueError, match=match):
        check_alert_settings(settings)
