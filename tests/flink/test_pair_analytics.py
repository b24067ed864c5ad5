"""flink_jobs/pair_analytics.py and pair_adf.py against the independent reference
(tests/flink/reference_pairs.py: statsmodels and numpy), on bounded inputs: every field of every
record, with the tolerances stated there; and the fast ADF against adfuller itself."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from statsmodels.tsa.stattools import adfuller

from config import PairSettings
from flink_jobs.pair_adf import adf_test
from flink_jobs.pair_analytics import PairSpec, PairState, window_statistics
from flink_jobs.pair_calls import (
    Clock,
    advance_pairs,
    bar_call,
    fingerprint,
    leg_routes,
    pair_parameters,
    touched,
)
from tests.flink.reference_pairs import assert_matches, cointegrated_bars, reference_records

pytestmark = pytest.mark.unit

PAIR = "binance:ETHUSDT/binance:BTCUSDT"
START = 1_723_161_240_000


def _run(
    y_bars: dict[int, str], x_bars: dict[int, str], settings: PairSettings, lead_s: int = 0
) -> list[dict]:
    """Drive a PairState as the job does: every bar up to `lead_s` seconds ahead is in before a
    second is computed (the watermark trails the bars by the out-of-orderness)."""
    state = PairState(PairSpec.parse(PAIR), pair_parameters(settings))
    records = []
    bars = sorted([(t, "y", c) for t, c in y_bars.items()] + [(t, "x", c) for t, c in x_bars.items()])
    last = max(max(y_bars), max(x_bars)) + settings.fill_max_age_ms
    for t in range(bars[0][0], last + 1, 1000):
        while bars and bars[0][0] <= t + lead_s * 1000:
            second, leg, close = bars.pop(0)
            state.on_close(leg, second, close)
        record = state.step(t)
        if record is not None:
            records.append(record)
    return records


@pytest.mark.parametrize(
    ("seed", "window_s", "adf_every_s", "adf_points"),
    [(1, 60, 10, 60), (2, 120, 7, 80), (4, 300, 10, 300)],
)
@pytest.mark.parametrize("lead_s", [0, 3])
def test_every_value_equals_the_reference(
    seed: int, window_s: int, adf_every_s: int, adf_points: int, lead_s: int
) -> None:
    settings = PairSettings(
        pairs=[PAIR], window_s=window_s, min_points=30, fill_max_age_ms=3_000,
        adf_every_s=adf_every_s, adf_points=adf_points,
    )  # fmt: skip
    y_bars, x_bars = cointegrated_bars(seed, 2 * window_s + 200, START, gap_at=100, gap_s=6)
    got = _run(y_bars, x_bars, settings, lead_s)
    expected = reference_records(y_bars, x_bars, PAIR, settings)
    assert len(expected) > window_s, "the input reaches a full window"
    assert any(r["x_fill_age_ms"] > 0 for r in expected) and any(r["y_fill_age_ms"] > 0 for r in expected)
    assert any(r["points"] == window_s for r in expected) and any(r["adf_stat"] is not None for r in expected)
    assert any(r["half_life_s"] is not None for r in expected)
    assert_matches(got, expected)


RELEASE_MS = 10_000


def _operator(
    bars: list[tuple[str, int, str]],
    settings: PairSettings,
    max_steps: int,
    defer: bool,
    lead_s: int | None,
    late: str | None = None,
    pause: bool = False,
) -> tuple[list, int]:
    """The pairs operator's timers, as Flink fires them, around `advance_pairs` (the logic of each
    call): the bars arrive in order of their second, each queued and setting the event-time timer
    of its second; the watermark trails the newest bar by `lead_s` (None: a catch-up, every bar in
    before the watermark passes any); every event-time timer behind a new watermark fires in one go
    (those set meanwhile too), then the processing-time continuation of a slice, if one is due,
    once per second of input. `defer`: an event-time timer does nothing while a continuation is due
    (the operator's rule); else it computes a slice too. `late`: an instrument whose bars all
    arrive after the others' last (a partition the source read late: the watermark ran ahead of
    it); a bar behind the last second computed asks for a call; `pause`: halfway through those,
    the source reads other partitions for longer than RELEASE_MS. Wall time runs 50 ms a call;
    when a pair waits for a lagging leg and nothing else is due, the release call comes
    RELEASE_MS later. Each call starts from the states as the operator wrote them back (only the
    pairs a call touched), as a new Python worker would. Records and calls."""
    routes = leg_routes(settings)
    pairs = {s: PairState(PairSpec.parse(s), pair_parameters(settings)) for s in settings.pairs}
    queued: list[tuple[str, int, str]] = []
    timers: set[int] = set()
    state: dict = {"last": None, "resume": False, "recheck": False, "calls": 0, "records": [], "now": 0}

    stored: dict[str, bytes] = {}  # the operator's map state: written back only when `touched`
    stored_waiting: dict[str, bytes] = {}  # the closes waiting per instrument: those that changed

    def call(watermark: int) -> None:
        state["now"] += 50
        state["input_at"] = state["now"] if queued else state.get("input_at", 0)
        clock = Clock(state["now"], RELEASE_MS, state["input_at"])
        pairs.update((key, pickle.loads(value)) for key, value in stored.items())  # a fresh worker
        waiting = {key: pickle.loads(value) for key, value in stored_waiting.items()}
        before = {key: fingerprint(pair) for key, pair in pairs.items()}
        done = advance_pairs(pairs, routes, queued, state["last"], watermark, max_steps, clock, waiting)
        stored.update((key, pickle.dumps(pairs[key])) for key in touched(pairs, before))
        for instrument in done.waiting_changed:
            if instrument in waiting:
                stored_waiting[instrument] = pickle.dumps(waiting[instrument])
            else:
                stored_waiting.pop(instrument, None)
        queued.clear()
        state["records"] += done.records
        state["last"] = done.last if done.last is not None else state["last"]
        state["resume"], state["recheck"] = done.resume, done.recheck
        state["calls"] += 1
        if done.wake_at is not None:
            timers.add(done.wake_at)

    def fire(watermark: int) -> None:
        while timers and min(timers) <= watermark:
            timers.discard(min(timers))
            if not (state["resume"] and defer):
                call(watermark)

    def arrive(bar: tuple[str, int, str]) -> None:
        queued.append(bar)
        if state["last"] is None or bar[1] > state["last"]:
            timers.add(bar[1])
        elif not state["resume"]:
            state["resume"] = True

    seconds = sorted({t for _, t, _ in bars})
    for second in seconds:
        for bar in (b for b in bars if b[1] == second and b[0] != late):
            arrive(bar)
        if lead_s is not None:
            fire(second - lead_s * 1000)
            if state["resume"]:
                call(second - lead_s * 1000)
    end = seconds[-1] + 60_000
    fire(end)
    late_bars = [b for b in bars if b[0] == late]
    for i, bar in enumerate(late_bars):  # a few at a time, as the source reads them
        if pause and i == len(late_bars) // 2:  # the source reads other partitions for a while
            other = next(b for b in reversed(bars) if b[0] != late)
            for _ in range(5):  # 12.5 s of other bars (a version again: changes nothing)
                state["now"] += RELEASE_MS // 4
                arrive(other)
                call(end)
        arrive(bar)
        if state["resume"] and bar[1] % 3_000 == 0:
            call(end)
    while state["resume"] or state["recheck"]:
        if not state["resume"]:
            state["now"] += RELEASE_MS
        call(end)
        fire(end)
    return state["records"], state["calls"]


PAIR2 = "okx:BTC-USDT/binance:BTCUSDT"


def _two_pairs_sharing_a_leg() -> tuple[PairSettings, dict[str, dict[int, str]]]:
    """Settings of PAIR and PAIR2 (BTCUSDT in both) and the closes of their three legs, every leg
    with a gap longer than the fill bound."""
    settings = PairSettings(
        pairs=[PAIR, PAIR2], window_s=60, min_points=30, fill_max_age_ms=3_000, adf_every_s=5, adf_points=60
    )
    eth, btc = cointegrated_bars(11, 200, START, gap_at=90, gap_s=8)
    okx, _ = cointegrated_bars(12, 200, START, gap_at=90, gap_s=8)
    return settings, {"binance:ETHUSDT": eth, "binance:BTCUSDT": btc, "okx:BTC-USDT": okx}


def _in_time_order(legs: dict[str, dict[int, str]]) -> list[tuple[str, int, str]]:
    """Every leg's bars as (key, time, close), by time."""
    return sorted(
        ((key, t, close) for key, closes in legs.items() for t, close in closes.items()), key=lambda b: b[1]
    )


@pytest.mark.parametrize("trailing", [True, False])
@pytest.mark.parametrize("late", [None, "okx:BTC-USDT"])
@pytest.mark.parametrize("lead_s", [None, 2])
@pytest.mark.parametrize("defer", [True, False])
@pytest.mark.parametrize("max_steps", [1, 7, 10**9])
def test_the_operator_in_slices_equals_the_reference(
    max_steps: int, defer: bool, lead_s: int | None, late: str | None, trailing: bool
) -> None:
    """However the seconds behind the watermark are sliced over calls, in a catch-up (a backlog
    read at once) or streaming, every pair's records are the reference's: two pairs sharing a leg,
    a gap of every leg longer than the fill bound (the series break, and the computation skips to
    the next bar); and with one leg's bars all behind the watermark (`late`: read late by the
    source), which the pair computes when they come (it failed with no record of that pair).
    `trailing`: a bar of every leg a minute after the input, or not (the input just ends, the
    watermark far beyond it: the forward-filled seconds after the last bars come from the call
    that releases the pairs; without it they never came, tests/flink/test_pairs_pipeline.py)."""
    settings, legs = _two_pairs_sharing_a_leg()
    for closes in legs.values() if trailing else ():  # a bar of every leg a minute on (no record)
        closes[START + 260_000] = closes[max(closes)]
    got, calls = _operator(_in_time_order(legs), settings, max_steps, defer, lead_s, late)
    for pair in (PAIR, PAIR2):
        y, x = pair.split("/")
        expected = reference_records(legs[y], legs[x], pair, settings)
        assert len(expected) > 100
        assert_matches([r for p, r in got if p == pair], expected)
    if max_steps == 1:
        assert calls > 150  # a call per second


@pytest.mark.parametrize("max_steps", [7, 10**9])
@pytest.mark.parametrize("lead_s", [None, 2])
def test_a_late_leg_that_pauses_while_other_bars_come_is_not_released(
    max_steps: int, lead_s: int | None
) -> None:
    """The source reads a backlog's partitions in turns of ~2,000 bars: a late leg's bars pause
    for longer than the release while the others' come. The pair must wait for them, not be
    released (stepped to the end with no records, its leg's later bars then behind it: records
    missing in bench.flink_pairs' backlog run of 2026-12-06 06:31); it failed with the release
    on the leg's silence alone."""
    settings, legs = _two_pairs_sharing_a_leg()
    got, _ = _operator(_in_time_order(legs), settings, max_steps, True, lead_s, "okx:BTC-USDT", pause=True)
    for pair in (PAIR, PAIR2):
        y, x = pair.split("/")
        assert_matches([r for p, r in got if p == pair], reference_records(legs[y], legs[x], pair, settings))


def test_a_gap_longer_than_the_fill_bound_restarts_the_window() -> None:
    settings = PairSettings(pairs=[PAIR], window_s=60, min_points=30, fill_max_age_ms=3_000, adf_points=60)
    y_bars, x_bars = cointegrated_bars(4, 200, START, gap_at=100, gap_s=10)
    got = _run(y_bars, x_bars, settings)
    after = [r for r in got if r["event_time"] > START + 100_000 + settings.fill_max_age_ms]
    assert after[0]["points"] == settings.min_points
    assert after[0]["event_time"] >= START + (110 + settings.min_points - 1) * 1000


def test_a_leg_that_does_not_move_gives_nulls_not_nan() -> None:
    flat = np.full(50, np.log(60_000.0))
    moving = np.log(2500.0) + np.cumsum(np.random.default_rng(5).normal(0, 1e-4, 50))
    stats, spread = window_statistics(moving, flat)
    assert spread is None and stats.beta is None and stats.zscore is None and stats.return_corr is None
    stats, spread = window_statistics(flat, moving)
    assert stats.beta == 0.0 and stats.r_squared is None and stats.zscore is None


@pytest.mark.parametrize("n", [12, 40, 120, 300, 600])
@pytest.mark.parametrize("phi", [1.0, 0.97, 0.6])
def test_fast_adf_equals_adfuller(n: int, phi: float) -> None:
    rng = np.random.default_rng(n)
    series = np.zeros(n)
    for i in range(1, n):
        series[i] = phi * series[i - 1] + rng.normal()
    series = 1e-3 * series + 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        stat, pvalue, lags, nobs, *_ = adfuller(series, autolag="AIC")
    got = adf_test(series)
    assert got is not None
    assert (got.lags, got.nobs) == (lags, nobs)
    assert got.statistic == pytest.approx(stat, rel=1e-9, abs=0)
    assert got.pvalue == pytest.approx(pvalue, rel=1e-9, abs=0)


def test_adf_of_a_constant_series_is_none() -> None:
    assert adf_test(np.full(50, 0.25)) is None


def test_adf_of_a_spread_that_went_flat_is_none_not_an_error() -> None:
    """A leg that stops moving leaves a spread constant over most of the window: a lagged fit is
    exact (SSR 0) and its log raised ValueError in the job's timer (a restart loop)."""
    series = np.full(300, 4.7e-7)
    series[:8] = 1e-3 * np.random.default_rng(3).normal(size=8)
    assert adf_test(series) is None


def test_settings_parse_pairs_and_routes() -> None:
    settings = PairSettings(pairs=[PAIR, "okx:BTC-USDT/binance:BTCUSDT"])
    assert leg_routes(settings)["binance:BTCUSDT"] == [(PAIR, "x"), ("okx:BTC-USDT/binance:BTCUSDT", "x")]
    for bad in (["binance:BTCUSDT"], ["a:B/a:B"], [PAIR, PAIR], ["binance:ETHUSDT/BTCUSDT"]):
        with pytest.raises(ValueError):
            PairSettings(pairs=bad)
    with pytest.raises(ValueError):
        PairSettings(window_s=60, adf_points=120)


@pytest.mark.parametrize(
    ("second", "last", "watermark", "resuming", "call"),
    [
        (5_000, None, -(2**63), None, "watermark"),  # first bar, no watermark yet
        (5_000, 4_000, 3_000, False, "watermark"),  # ahead of both: its second's timer
        (5_000, 4_000, 5_000, False, "soon"),  # at the watermark: no later watermark may come
        (5_000, None, 9_000, None, "soon"),  # a partition read late, nothing computed yet
        (3_000, 4_000, 2_000, False, "soon"),  # behind the last second computed (step_pair)
        (5_000, 4_000, 9_000, True, None),  # a continuation is due: it applies the bar
    ],
)
def test_a_bar_behind_the_watermark_asks_for_a_call_not_a_watermark(
    second: int, last: int | None, watermark: int, resuming: bool | None, call: str | None
) -> None:
    assert bar_call(second, last, watermark, resuming) == call


def test_mackinnon_pvalue_equals_statsmodels() -> None:
    """The ADF's p-value without scipy's per-call overhead: statsmodels' own mackinnonp on a grid
    through both polynomial branches and both tails."""
    from statsmodels.tsa.adfvalues import mackinnonp

    from flink_jobs.pair_adf import mackinnon_pvalue

    for statistic in np.linspace(-25.0, 5.0, 3001).tolist():
        expected = mackinnonp(statistic, regression="c", N=1)
        assert mackinnon_pvalue(statistic) == pytest.approx(expected, rel=1e-12, abs=0), statistic


def _bars_of(seed: int) -> list[tuple[str, int, str]]:
    y_bars, x_bars = cointegrated_bars(seed, 160, START, gap_at=60, gap_s=6)
    return sorted(
        [("y", t, c) for t, c in y_bars.items()] + [("x", t, c) for t, c in x_bars.items()],
        key=lambda b: b[1],
    )


def test_a_state_pickled_in_the_previous_layout_goes_on_the_same() -> None:
    """A PairState kept in Flink state by the previous code (pending closes as dicts by second,
    the whole buffer, no newest seconds) loads and computes what the current one does."""
    settings = PairSettings(pairs=[PAIR], window_s=60, min_points=30, fill_max_age_ms=3_000, adf_points=60)
    bars = _bars_of(7)
    pair = PairState(PairSpec.parse(PAIR), pair_parameters(settings))
    second = START
    for leg, t, close in bars:  # bars 3 s ahead of the seconds computed: some pending
        while second < t - 3_000:
            pair.step(second)
            second += 1000
        pair.on_close(leg, t, close)
        if t >= START + 100_000:
            break
    assert any(len(waiting) for waiting in pair.pending.values())
    old = dict(pair.__dict__)
    old["pending"] = {leg: dict(zip(w.seconds, w.closes, strict=True)) for leg, w in pair.pending.items()}
    del old["newest"], old["changes"]
    restored = PairState.__new__(PairState)
    restored.__setstate__(pickle.loads(pickle.dumps(old)))
    current = pickle.loads(pickle.dumps(pair))
    assert restored.newest == current.newest and restored.known_until() == current.known_until()
    rest = [b for b in bars if b[1] > START + 100_000]
    for state in (restored, current):
        for leg, t, close in rest:
            state.on_close(leg, t, close)
    ends = max(t for _, t, _ in bars) + 3_000
    got = [[s.step(t) for t in range(second, ends + 1, 1000)] for s in (restored, current)]
    assert got[0] == got[1] and sum(r is not None for r in got[0]) > 30


def test_closes_out_of_order_and_replaced_are_found_as_in_order() -> None:
    """The pending closes stay sorted by second whatever order they come in, and a later version
    of a second's bar replaces it: each second's fill is the latest close at or before it."""
    params = pair_parameters(PairSettings(pairs=[PAIR], window_s=60, fill_max_age_ms=10_000, adf_points=60))
    state = PairState(PairSpec.parse(PAIR), params)
    for t, close in [(5, "5"), (2, "2"), (9, "9"), (2, "2.5"), (7, "7"), (1, "1")]:
        state.on_close("y", START + t * 1000, close)
        state.on_close("x", START + t * 1000, "100")
    assert state.pending["y"].seconds == sorted(state.pending["y"].seconds)
    expected: dict[int, str | None] = {
        0: None,
        1: "1",
        2: "2.5",
        3: "2.5",
        6: "5",
        7: "7",
        8: "7",
        9: "9",
        12: "9",
    }
    for t, want in expected.items():
        fills = state.fills(START + t * 1000)
        assert (fills["y"][1] if fills else None) == want, t
    assert state.first_pending_after(START + 2_000) == START + 5_000 and state.known_until() == START + 9_000
