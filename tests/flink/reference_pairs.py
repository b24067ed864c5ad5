"""An independent computation of pairs.analytics from 1 s bars, for the tests: the alignment
written out second by second, the statistics with statsmodels (OLS, adfuller) and numpy
(corrcoef, std) on the uncentred log prices, as docs/metrics.md states them. Nothing here is
shared with flink_jobs/pair_analytics.py except the definition of the ADF phase.

Also the bounded inputs: a cointegrated pair of random walks with decimal closes, seconds where a
leg did not trade (forward fills) and a gap longer than the fill bound (the series restarts)."""

from __future__ import annotations

import math
import warnings
import zlib
from typing import Any

import numpy as np
import statsmodels.api as sm
from statsmodels.tsa.stattools import adfuller

from config import PairSettings


def reference_records(
    y_bars: dict[int, str], x_bars: dict[int, str], pair_id: str, settings: PairSettings
) -> list[dict[str, Any]]:
    """Every record of one pair: {second ms: close text} per leg in, records out."""
    y_key, x_key = pair_id.split("/")
    seconds = sorted(set(y_bars) | set(x_bars))
    phase = zlib.crc32(pair_id.encode()) % settings.adf_every_s
    out: list[dict[str, Any]] = []
    segment: list[tuple[float, float]] = []
    adf: tuple[float, float, int, int] | None = None
    for t in range(seconds[0], seconds[-1] + settings.fill_max_age_ms + 1, 1000):
        filled = []
        for bars in (y_bars, x_bars):
            known = [s for s in bars if s <= t]
            if known and t - max(known) <= settings.fill_max_age_ms:
                filled.append((bars[max(known)], t - max(known)))
        if len(filled) < 2:
            segment = []
            continue
        (y_text, y_age), (x_text, x_age) = filled
        segment.append((math.log(float(y_text)), math.log(float(x_text))))
        if len(segment) < settings.min_points:
            continue
        window = np.array(segment[-settings.window_s :])
        ly, lx = window[:, 0], window[:, 1]
        fit = sm.OLS(ly, sm.add_constant(lx)).fit()
        alpha, beta = fit.params
        spread = ly - beta * lx - alpha
        mean, std = spread.mean(), spread.std()
        ar = sm.OLS(np.diff(spread), sm.add_constant(spread[:-1])).fit()
        phi = 1.0 + ar.params[1]
        if (t // 1000 + phase) % settings.adf_every_s == 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                stat, pvalue, lags, *_ = adfuller(spread[-settings.adf_points :], autolag="AIC")
            adf = (stat, pvalue, lags, t)
        out.append(
            {
                "schema_version": 1,
                "pair": pair_id,
                "y": y_key,
                "x": x_key,
                "event_time": t,
                "y_close": y_text,
                "x_close": x_text,
                "y_fill_age_ms": y_age,
                "x_fill_age_ms": x_age,
                "points": len(window),
                "beta": beta,
                "alpha": alpha,
                "r_squared": fit.rsquared,
                "spread": spread[-1],
                "spread_mean": mean,
                "spread_std": std,
                "zscore": (spread[-1] - mean) / std,
                "return_corr": np.corrcoef(np.diff(ly), np.diff(lx))[0, 1],
                "half_life_s": -math.log(2.0) / math.log(phi) if 0.0 < phi < 1.0 else None,
                "adf_stat": adf[0] if adf else None,
                "adf_pvalue": adf[1] if adf else None,
                "adf_lags": adf[2] if adf else None,
                "adf_time": adf[3] if adf else None,
            }
        )
    return out


def cointegrated_bars(
    seed: int, seconds: int, start_ms: int, *, gap_at: int | None = None, gap_s: int = 0
) -> tuple[dict[int, str], dict[int, str]]:
    """Closes of y ~ 2500 and x ~ 60000 (ln y = 0.9 ln x + c + AR(1) noise), 2 decimals, each leg
    silent in ~20% of the seconds (forward fills) and both silent for `gap_s` from `gap_at`."""
    rng = np.random.default_rng(seed)
    lx = math.log(60_000.0) + np.cumsum(rng.normal(0.0, 2e-4, seconds))
    noise = np.zeros(seconds)
    for i in range(1, seconds):
        noise[i] = 0.95 * noise[i - 1] + rng.normal(0.0, 1e-4)
    ly = math.log(2500.0) + 0.9 * (lx - lx[0]) + noise
    y_bars, x_bars = {}, {}
    for i in range(seconds):
        if gap_at is not None and gap_at <= i < gap_at + gap_s:
            continue
        t = start_ms + i * 1000
        if i == 0 or rng.random() > 0.2:
            y_bars[t] = f"{math.exp(ly[i]):.2f}"
        if i == 0 or rng.random() > 0.2:
            x_bars[t] = f"{math.exp(lx[i]):.2f}"
    return y_bars, x_bars


# Relative tolerance of each field against the reference: 1e-9, except α. The reference fits
# on the uncentred logs (statsmodels' pinv of [1, ln x] with ln x ~ 11 ± 1e-3, badly conditioned),
# so its α = mean(ln y) - β mean(ln x) carries β's error times ln x / α: measured up to 2.3e-9.
TOLERANCES = {
    "beta": 1e-9,
    "alpha": 1e-8,
    "r_squared": 1e-9,
    "return_corr": 1e-9,
    "spread_std": 1e-9,
    "half_life_s": 1e-9,
    "adf_stat": 1e-9,
    "adf_pvalue": 1e-9,
}
# Absolute tolerances in units of the window's spread std: the reference's spreads are
# ln y - β ln x - α of numbers ~8 and ~11, so they carry an absolute error of ~1e-11 (α's above):
# relative to a spread that happens to be near 0 that is any size, relative to the std at most
# 3.4e-7 measured. spread_mean is 0 up to rounding (OLS residuals); the z-score's error is the
# same in units of 1 (measured up to 5.7e-8 relative on z near 0).
STD_UNIT_TOLERANCES = {"spread": 1e-6, "spread_mean": 1e-6}
ZSCORE_ATOL = 1e-6


def assert_matches(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Same seconds, same exact fields, every number within its tolerance."""
    assert [r["event_time"] for r in got] == [r["event_time"] for r in expected]
    exact = ("pair", "y", "x", "y_close", "x_close", "y_fill_age_ms", "x_fill_age_ms", "points",
             "adf_lags", "adf_time", "schema_version")  # fmt: skip
    for mine, ref in zip(got, expected, strict=True):
        at = mine["event_time"]
        assert set(mine) == set(ref), at
        for field in exact:
            assert mine[field] == ref[field], (at, field, mine[field], ref[field])
        for field, rtol in TOLERANCES.items():
            if ref[field] is None:
                assert mine[field] is None, (at, field, mine[field])
            else:
                assert mine[field] is not None, (at, field)
                assert math.isclose(mine[field], ref[field], rel_tol=rtol, abs_tol=0.0), (
                    at, field, mine[field], ref[field], abs(mine[field] / ref[field] - 1),
                )  # fmt: skip
        for field, tol in STD_UNIT_TOLERANCES.items():
            assert abs(mine[field] - ref[field]) <= tol * ref["spread_std"], (
                at,
                field,
                mine[field],
                ref[field],
            )
        assert abs(mine["zscore"] - ref["zscore"]) <= ZSCORE_ATOL, (at, mine["zscore"], ref["zscore"])
