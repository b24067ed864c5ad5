"""The Augmented Dickey-Fuller test of a pair's spread, as statsmodels' `adfuller(x,
regression='c', autolag='AIC')` computes it, in one QR factorization per fit instead of one
statsmodels OLS per candidate lag.

Why not call `adfuller` itself: it fits 1 + maxlag OLS models through statsmodels' model classes
(16 for 300 points), ~80 ms per call on the loaded 2-core machine, so 1,000 pairs every 10 s
would need 8 cores for the test alone. Here the nested regressions of the lag search share one
QR of [const, level, lags 1..maxlag | Δx]: the residual sum of squares of the first k columns
is the sum of squares of the last column of R below row k, with no subtraction (stable). The
chosen lag is refitted on its own longer sample, as adfuller does, and the statistic is the
t-value of the level's coefficient, read off the QR with the level as the last column.
The p-value is statsmodels' MacKinnon approximation (`mackinnonp`), the one adfuller returns
(`mackinnon_pvalue`: the same tables and arithmetic without scipy's per-call overhead).
tests/flink/test_pair_analytics.py checks statistic, p-value and lags against adfuller itself."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

_LOG_2PI = math.log(2.0 * math.pi)
_SQRT_HALF = math.sqrt(0.5)


@dataclass(frozen=True)
class AdfResult:
    statistic: float
    pvalue: float
    lags: int
    nobs: int


def default_maxlag(n: int) -> int:
    """adfuller's maxlag for n points with a constant: Schwert's rule, capped at n // 2 - 2."""
    return min(n // 2 - 2, int(math.ceil(12.0 * (n / 100.0) ** 0.25)))


def _lag_design(x: NDArray[np.float64], lags: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Rows t = lags+1 .. n-1: columns [x_{t-1}, Δx_{t-1}, …, Δx_{t-lags}] and the target Δx_t."""
    dx = np.diff(x)
    nobs = dx.shape[0] - lags
    columns = [x[lags : lags + nobs]] + [dx[lags - j : lags - j + nobs] for j in range(1, lags + 1)]
    return np.column_stack(columns), dx[lags:]


def _aic_lag(x: NDArray[np.float64], maxlag: int) -> int | None:
    """The lag (0..maxlag) whose regression on the common sample has the smallest AIC; ties go
    to the fewer columns, as adfuller's min over (aic, column count) does. None when a candidate
    fits exactly (SSR 0, a rank-deficient design: e.g. a spread that stayed flat for most of the
    window because a leg stopped moving): its AIC is -inf, the test means nothing, and log(0)
    would raise in the job (a restart loop)."""
    design, target = _lag_design(x, maxlag)
    nobs = target.shape[0]
    full = np.column_stack([np.ones(nobs), design, target])
    r: NDArray[np.float64] = np.asarray(np.linalg.qr(full, mode="r"))
    tail = r[:, -1]  # Qᵀ target, and its residual norm in the last row
    tail_sq = tail * tail
    # SSR with the first k regressors = Σ_{i >= k} tail_i² (rows beyond the regressors included)
    ssr_from = np.cumsum(tail_sq[::-1])[::-1]
    best: tuple[float, int] | None = None
    for lag in range(maxlag + 1):
        k = lag + 2  # const, level, `lag` lagged differences
        ssr = float(ssr_from[k])
        if ssr <= 0.0:
            return None
        aic = nobs * (_LOG_2PI + math.log(ssr / nobs) + 1.0) + 2.0 * k
        if best is None or (aic, k) < best:
            best = (aic, k)
    assert best is not None
    return best[1] - 2


def adf_test(x: NDArray[np.float64], maxlag: int | None = None) -> AdfResult | None:
    """ADF with a constant and the lag chosen by AIC, or None when the series cannot be tested
    (too short for one lag, constant, or a degenerate fit: an exact one in the lag search)."""
    n = x.shape[0]
    maxlag = default_maxlag(n) if maxlag is None else maxlag
    if maxlag < 0 or float(np.max(x)) == float(np.min(x)):
        return None
    lags = _aic_lag(x, maxlag)
    if lags is None:
        return None
    design, target = _lag_design(x, lags)
    nobs = target.shape[0]
    # level last, so its coefficient's t-value is (Qᵀy)_last · sign(R_last,last) / σ
    exog = np.column_stack([design[:, 1:], np.ones(nobs), design[:, 0], target])
    r: NDArray[np.float64] = np.asarray(np.linalg.qr(exog, mode="r"))
    k = exog.shape[1] - 1
    ssr = float(np.sum(r[k:, -1] ** 2))
    dof = nobs - k
    if dof <= 0 or ssr <= 0.0 or r[k - 1, k - 1] == 0.0:
        return None
    sigma = math.sqrt(ssr / dof)
    statistic = float(r[k - 1, -1] * math.copysign(1.0, r[k - 1, k - 1]) / sigma)
    if not math.isfinite(statistic):
        return None
    return AdfResult(statistic, mackinnon_pvalue(statistic), lags, nobs)


def mackinnon_pvalue(statistic: float) -> float:
    """statsmodels' `mackinnonp(statistic, regression="c", N=1)` from its own coefficient tables,
    with the polynomial in Python floats (numpy's polyval does the same Horner steps) and the
    normal CDF as scipy's ndtr computes it, from erf/erfc: ~1 µs instead of ~25 µs (scipy's
    `norm.cdf` on a scalar). tests/flink/test_pair_analytics.py compares both on a grid."""
    from statsmodels.tsa import adfvalues  # statsmodels loads in ~1 s: only when testing

    if statistic > adfvalues._tau_maxs["c"][0]:
        return 1.0
    if statistic < adfvalues._tau_mins["c"][0]:
        return 0.0
    small = statistic <= adfvalues._tau_stars["c"][0]
    coefficients = (adfvalues._tau_smallps if small else adfvalues._tau_largeps)["c"][0]
    z = 0.0
    for c in coefficients[::-1].tolist():
        z = z * statistic + c
    x = z * _SQRT_HALF
    if abs(x) < _SQRT_HALF:
        return 0.5 + 0.5 * math.erf(x)
    y = 0.5 * math.erfc(abs(x))
    return 1.0 - y if x > 0.0 else y
