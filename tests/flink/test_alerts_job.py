"""The alerts job's logic on bounded inputs in a local Flink cluster: crafted scenarios that must
raise exactly the alerts written out by hand (and ones that must raise none), and a random walk
compared with the independent reference in reference_alerts.py. One Flink run serves all of
them (each scenario is its own symbol)."""

from __future__ import annotations

import heapq
import json

import pytest

from config import AlertSettings
from flink_jobs.alerts import alerts_table, check_alert_settings, rules_json
from schemas import Topic, validator_for
from tests.flink.alert_sequences import CRAFTED_SETTINGS, T0, crafted, processed, random_processed
from tests.flink.conftest import run_bounded_in
from tests.flink.reference_alerts import as_tuple, reference_alerts

RANDOM_SYMBOLS = ("RNDAUSDT", "RNDBUSDT", "RNDCUSDT")


@pytest.fixture(scope="module")
def alert_run(local_table_env, tmp_path_factory):
    """(input records, output alerts) of one bounded run over every crafted scenario and a random
    walk of three more symbols."""
    scenarios, _ = crafted()
    walk = random_processed(3_000, seed=17, symbols=RANDOM_SYMBOLS)
    # interleaved by time, each list keeping its own order (the walk's records a little out of order)
    records = list(heapq.merge(scenarios, walk, key=lambda r: r["event_time"]))
    folder = tmp_path_factory.mktemp("alerts") / "in"
    rows = run_bounded_in(
        local_table_env, folder, Topic.PROCESSED, records, lambda t: alerts_table(t, CRAFTED_SETTINGS)
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


@pytest.mark.integration
def test_an_update_behind_the_watermark_is_dropped(local_table_env, tmp_path):
    """As the SQL job's OVER windows and MATCH_RECOGNIZE did: the update at 1.1 s that would
    confirm LATUSDT's episode arrives after a record of another symbol has moved the watermark
    (5 s - the 2 s bound) past it, so the episode is confirmed by the next on-time update."""
    on_time = [
        processed("LATUSDT", t, t, imbalance_5=x)
        for t, x in [(0, 0.1), *((t, 0.6) for t in range(100, 1001, 100))]
    ]
    records = on_time + [
        processed("MOVUSDT", 5_000, 0, imbalance_5=0.0),
        processed("LATUSDT", 1_100, 1_100, imbalance_5=0.6),  # late
        processed("LATUSDT", 6_000, 6_000, imbalance_5=0.6),
        processed("MOVUSDT", 9_000, 1, imbalance_5=0.0),
    ]
    rows = run_bounded_in(
        local_table_env,
        tmp_path / "in",
        Topic.PROCESSED,
        records,
        lambda t: alerts_table(t, AlertSettings(profile="seed")),
        watermark_each_record=True,
    )
    assert [as_tuple(r) for r in rows] == [
        ("imbalance_extreme", "medium", "binance", "LATUSDT", T0 + 100, T0 + 6_000, 0.6, 0.5)
    ]


@pytest.mark.unit
def test_reference_agrees_with_the_hand_written_expectations():
    records, expected = crafted()
    assert reference_alerts(records, CRAFTED_SETTINGS) == expected


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
        (AlertSettings(adaptive_overrides={"ETHUSDT": {"imbalance_clear": 60.0}}), "imbalance_clear <"),
        (AlertSettings(adaptive_overrides={"*": {"flip_severity": "huge"}}), "flip_severity"),
        (AlertSettings(adaptive_overrides={"*": {"imbalance_level": 7}}), "imbalance_level"),
    ],
)
def test_settings_that_cannot_describe_an_alert_are_refused(settings, match):
    with pytest.raises(ValueError, match=match):
        check_alert_settings(settings)


@pytest.mark.unit
def test_the_rules_argument_carries_each_symbols_profile_and_the_types_switched_off():
    settings = AlertSettings(
        enabled_rules=["imbalance_extreme", "spread_widening", "velocity_spike"],
        adaptive_overrides={
            "*": {"warmup_ms": 5_000},
            "BTCUSDT": {"rules": ["spread_widening"], "imbalance_level": 10},
        },
    )
    rules = json.loads(rules_json(settings, off=["velocity_spike"]))
    default, btc = rules["default"], rules["symbols"]["BTCUSDT"]
    assert set(rules["symbols"]) == {"BTCUSDT"}  # "*" is the default
    assert (default["profile"], default["warmup_ms"], default["escalate_factor"]) == ("adaptive", 5_000, 5.0)
    assert default["off"] == ["imbalance_flip", "velocity_spike"]
    assert btc["off"] == ["imbalance_extreme", "imbalance_flip", "velocity_spike"]
    assert btc["imbalance_level"] == 10 and btc["warmup_ms"] == 5_000
    seed = json.loads(rules_json(AlertSettings(profile="seed", overrides={"ETHUSDT": {"cooldown_ms": 0}})))
    assert seed["default"]["profile"] == "seed" and seed["default"]["escalate_factor"] is None  # never
    assert seed["default"]["flip_severity"] == "high" and seed["symbols"]["ETHUSDT"]["cooldown_ms"] == 0
