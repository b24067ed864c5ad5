"""The adaptive rules on crafted sequences: the alerts written out by hand, and every value equal
to an independent computation (tests/alerting/reference_adaptive.py: two-pass weighted baselines,
then reference_alerts' state machines on the scores)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from alerting.adaptive_sequences import FLIP, JUMP, PROFILE, close, crafted, scenario
from alerting.reference_adaptive import baseline_at, reference_adaptive

from config import AlertSettings
from flink_jobs.alert_baseline import Baseline
from flink_jobs.alert_rules import RuleEngine, run_rules

pytestmark = pytest.mark.unit


def _run(records: list[dict], profile=PROFILE) -> list:  # noqa: ANN001
    engine = RuleEngine(AlertSettings(), "adaptive", lambda p: profile)
    alerts = [a for r in sorted(records, key=lambda r: r["event_time"]) for a in engine.on_record(r)]
    return sorted(alerts + engine.flush(), key=lambda a: a.as_tuple())


def _same(got: list[tuple], want: list[tuple]) -> None:
    assert len(got) == len(want), (got, want)
    for g, w in zip(got, want, strict=True):
        assert g[:6] == w[:6], (g, w)
        assert close(g[6], w[6]) and close(g[7], w[7]), (g, w)


def test_adaptive_rules_raise_the_crafted_alerts_and_equal_the_reference() -> None:
    records, expected = crafted()
    alerts = _run(records)
    assert (
        sorted((a.alert_type, a.severity, a.symbol, a.window_start, a.window_end) for a in alerts) == expected
    )
    _same([a.as_tuple() for a in alerts], reference_adaptive(records, PROFILE))


def test_the_seed_profile_raises_the_ordinary_ones_too() -> None:
    """What the adaptive profile adds: the seed's absolute thresholds fire on the noisy, thin and
    early symbols as well."""
    records, _ = crafted()
    seed = {a.symbol for a in run_rules(records, AlertSettings(), "seed")}
    assert {"NOISYUSDT", "THINUSDT", "EARLYUSDT"} <= seed
    assert not {"NOISYUSDT", "THINUSDT", "EARLYUSDT"} & {a.symbol for a in _run(records)}


def test_baseline_recursion_equals_the_weighted_two_pass_computation() -> None:
    """The engine's O(1) recursion against explicit weights, at every update of an irregular
    series (gaps of 0.1 s to 40 s, a level shift)."""
    times, values, t = [], [], 0
    for k in range(400):
        t += (100, 1_000, 40_000, 300)[k % 4] if k % 7 else 2_500
        times.append(t)
        values.append((0.3 if k < 200 else -0.4) + 0.1 * math.sin(k * 1.3))
    base = Baseline(300_000.0, sd_floor=1e-9)
    for j, (t, x) in enumerate(zip(times, values, strict=True)):
        z = base.fold(t, x)
        if j == 0:
            assert z is None and base.seen_ms == 0  # nothing folded yet
            continue
        mean, var, seen = baseline_at(times, values, j, 300_000.0)
        assert close(base.mean, mean) and math.isclose(base.var, var, rel_tol=1e-9, abs_tol=1e-15)
        assert base.seen_ms == seen
        assert close(z, (x - mean) / max(math.sqrt(var), 1e-9))


def test_percentile_of_the_z_score() -> None:
    """A z the baseline has never seen is at the top; one like most of the history in the middle."""
    records = scenario("QUIETUSDT", JUMP)
    engine = RuleEngine(AlertSettings(), "adaptive", lambda p: PROFILE)
    alerts = [a for r in records for a in engine.on_record(r)] + engine.flush()
    extreme = next(a for a in alerts if a.alert_type == "imbalance_extreme")
    assert extreme.context["percentile"] > 0.99
    assert extreme.context["value"] == 0.7 and extreme.context["book"]["mid"] == 2_500.0
    rules = engine.keys[("binance", "spot", "QUIETUSDT")]
    assert 0.2 < rules.imbalance.percentile(0.0) < 0.8


def test_severity_rises_with_the_score() -> None:
    """escalate_factor: a flip (1 in 10,000 both ways, threshold 100) and a velocity spike (~43
    RMS, threshold 6) are raised as high at 5 times their threshold, not at 200 times."""
    records = scenario("FLIPUSDT", FLIP)
    calm = {
        (a.alert_type, a.severity)
        for a in _run(records, replace(PROFILE, flip_severity="medium", escalate_factor=200.0))
    }
    assert calm == {("imbalance_flip", "medium"), ("velocity_spike", "low")}
    loud = {
        (a.alert_type, a.severity)
        for a in _run(records, replace(PROFILE, flip_severity="medium", escalate_factor=5.0))
    }
    assert loud == {("imbalance_flip", "high"), ("velocity_spike", "high")}


def test_adaptive_messages_say_why() -> None:
    records, _ = crafted()
    messages = {(a.symbol, a.alert_type): a.adaptive_message() for a in _run(records)}
    extreme = messages[("QUIETUSDT", "imbalance_extreme")]
    assert (
        extreme.startswith("QUIETUSDT top-5 imbalance +0.70, 1 in ") and "(bid-heavy), held 1.0 s" in extreme
    )
    assert "flipped to -0.50 in 1.0 s, 1 in 10000 then 1 in 10000" in messages[("FLIPUSDT", "imbalance_flip")]
    assert messages[("WIDEUSDT", "spread_widening")].startswith("WIDEUSDT spread 3.00 bps, ")
    assert "imbalance velocity +0.600/s" in messages[("QUIETUSDT", "velocity_spike")]


@pytest.mark.parametrize("profile", ["seed", "adaptive"])
def test_rules_switched_off_raise_nothing_and_the_others_stay(profile: str) -> None:
    """OBM_ALERT_ENABLED_RULES (and an adaptive override's "rules"): a type not listed raises
    nothing, the listed ones raise exactly what they raise with every rule on."""
    records, _ = crafted()
    crafted_profile = {k: v for k, v in PROFILE.as_dict().items() if k not in ("name", "adaptive", "rules")}
    every = run_rules(records, AlertSettings(adaptive_overrides={"*": crafted_profile}), profile)
    assert {a.alert_type for a in every} >= {"imbalance_extreme", "imbalance_flip"}
    only = AlertSettings(
        enabled_rules=["imbalance_flip", "spread_widening"], adaptive_overrides={"*": crafted_profile}
    )
    kept = [a.as_tuple() for a in every if a.alert_type in only.enabled_rules]
    assert [a.as_tuple() for a in run_rules(records, only, profile)] == kept
    per_symbol = AlertSettings(adaptive_overrides={"*": crafted_profile | {"rules": ["imbalance_flip"]}})
    if profile == "adaptive":
        flips = [a.as_tuple() for a in every if a.alert_type == "imbalance_flip"]
        assert [a.as_tuple() for a in run_rules(records, per_symbol, profile)] == flips
    with pytest.raises(ValueError, match="unknown alert types"):
        AlertSettings(enabled_rules=["imbalance_flop"])
