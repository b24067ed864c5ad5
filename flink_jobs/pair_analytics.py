"""Pair analytics of two instruments (y, x) on aligned 1 s closes: the pure logic of the pairs
job (flink_jobs/pairs.py), one `PairState` per pair, no Flink in here.

Alignment. Each leg's close at second t is the close of its latest 1 s trade bar at or before t,
forward-filled, with the fill's age (t minus that bar's start, 0 when the leg traded in t). A
second is a point of the pair when both legs have a close no older than `fill_max_age_ms`; a
second where a leg is staler than that breaks the series and the window starts again (a forward
fill of minutes would fake a flat price).

Statistics over the window (the last `window_s` points, contiguous seconds), recomputed from the
window's values at each point, centred first (two-pass), so no running sum of squares of log
prices ~10 cancels away the variance of a few basis points:
- hedge ratio β and intercept α: OLS of ln y on ln x with intercept; R²;
- spread s = ln y − β ln x − α at each point of the window (the OLS residuals, with this point's
  β), its mean and standard deviation (ddof 0) and the z-score of the last spread;
- correlation of the log returns of y and x over the window (its points' consecutive differences);
- half-life of mean reversion: the AR(1) fit Δs_t = a + b s_{t−1} gives −ln 2 / ln(1 + b), only
  when 1 + b is in (0, 1) (otherwise the spread does not revert geometrically: None);
- ADF of the spread (flink_jobs/pair_adf.py, adfuller with a constant and AIC lags) over its last
  `adf_points` values, at the seconds t with (t/1000 + phase) % adf_every_s == 0 (the phase is a
  stable hash of the pair, so 1,000 pairs spread their tests over the cadence); every record
  carries the latest test with its time.
A value that is undefined (a leg that did not move in the window: zero variance) is None, never
NaN or infinity, which JSON cannot carry."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from flink_jobs.pair_adf import adf_test

SECOND_MS = 1_000
# Between the two legs of a pair id: `binance:ETHUSDT/binance:BTCUSDT` is y / x.
PAIR_SEPARATOR = "/"


@dataclass(frozen=True)
class PairSpec:
    """A configured pair: y and x as `exchange:symbol` keys."""

    y: str
    x: str

    @property
    def pair_id(self) -> str:
        return f"{self.y}{PAIR_SEPARATOR}{self.x}"

    @classmethod
    def parse(cls, text: str) -> PairSpec:
        y, sep, x = text.partition(PAIR_SEPARATOR)
        if (
            not sep
            or y.count(":") != 1
            or x.count(":") != 1
            or y == x
            or not all(y.split(":") + x.split(":"))
        ):
            raise ValueError(f"not a pair 'exchange:SYMBOL/exchange:SYMBOL' of two instruments: {text!r}")
        return cls(y, x)


@dataclass(frozen=True)
class PairParameters:
    window_s: int
    min_points: int
    fill_max_age_ms: int
    adf_every_s: int
    adf_points: int


@dataclass
class Statistics:
    beta: float | None = None
    alpha: float | None = None
    r_squared: float | None = None
    spread: float | None = None
    spread_mean: float | None = None
    spread_std: float | None = None
    zscore: float | None = None
    return_corr: float | None = None
    half_life_s: float | None = None


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def window_statistics(
    log_y: NDArray[np.float64], log_x: NDArray[np.float64]
) -> tuple[Statistics, NDArray[np.float64] | None]:
    """Everything but the ADF over one window of aligned log closes, and the spread series (None
    when x did not move: no hedge ratio)."""
    stats = Statistics()
    dy = log_y - log_y.mean()
    dx = log_x - log_x.mean()
    sxx, syy, sxy = float(dx @ dx), float(dy @ dy), float(dx @ dy)
    ry, rx = np.diff(log_y), np.diff(log_x)
    if ry.shape[0] >= 2:
        ry, rx = ry - ry.mean(), rx - rx.mean()
        ryy, rxx = float(ry @ ry), float(rx @ rx)
        if ryy > 0.0 and rxx > 0.0:
            stats.return_corr = _finite(float(ry @ rx) / math.sqrt(ryy * rxx))
    if sxx <= 0.0:
        return stats, None
    beta = sxy / sxx
    stats.beta = beta
    stats.alpha = float(log_y.mean() - beta * log_x.mean())
    stats.r_squared = _finite(sxy * sxy / (sxx * syy)) if syy > 0.0 else None
    spread = dy - beta * dx
    mean = float(spread.mean())
    centred = spread - mean
    std = math.sqrt(float(centred @ centred) / spread.shape[0])
    stats.spread, stats.spread_mean, stats.spread_std = float(spread[-1]), mean, std
    stats.zscore = _finite(float(centred[-1]) / std) if std > 0.0 else None
    stats.half_life_s = half_life(spread)
    return stats, spread


def half_life(spread: NDArray[np.float64]) -> float | None:
    """−ln 2 / ln(1 + b) of the OLS fit Δs_t = a + b s_{t−1} (seconds: one point per second)."""
    lagged, change = spread[:-1], np.diff(spread)
    centred = lagged - lagged.mean()
    sxx = float(centred @ centred)
    if lagged.shape[0] < 3 or sxx <= 0.0:
        return None
    phi = 1.0 + float(centred @ (change - change.mean())) / sxx
    if not 0.0 < phi < 1.0:
        return None
    return _finite(-math.log(2.0) / math.log(phi))


class PairState:
    """One pair's state: each leg's close carried forward (value, text, second) and the closes
    of seconds not computed yet, the window of aligned log closes (a buffer of twice the window, slid back when full: O(1) per point), the last emitted
    second and the latest ADF. Picklable: the Flink job keeps it in keyed state."""

    # The last second `step` was called with (a class default: states pickled before it existed).
    stepped_to: int | None = None
    # Started behind the seconds the other pairs computed (a leg read late): bounded by how far
    # both legs' bars have come until they reach the pairs' second (flink_jobs/pairs.step_pair).
    catching_up: bool = False
    # While catching up: the newest `known_until` seen and the wall time it was first seen
    # (a lagging leg that brings nothing new for PairSettings.catch_up_release_ms is quiet).
    known_seen: int | None = None
    known_seen_at_ms: int = 0

    def __init__(self, spec: PairSpec, params: PairParameters) -> None:
        self.spec, self.params = spec, params
        self.phase = zlib.crc32(spec.pair_id.encode()) % params.adf_every_s
        self.closes: dict[str, tuple[float, str, int]] = {}  # "y"/"x" -> (close, text, second ms)
        self.pending: dict[str, dict[int, tuple[float, str, int]]] = {}  # leg -> second -> close
        capacity = 2 * params.window_s
        self._buffer = np.empty((2, capacity))
        self._start = self._end = 0
        self.last_second: int | None = None
        self.adf: tuple[float, float, int, int] | None = None  # statistic, p-value, lags, at ms

    def on_close(self, leg: str, second_ms: int, close_text: str) -> None:
        """A 1 s bar's close of one leg. Bars run ahead of the seconds computed (the watermark
        trails them), so a bar of a second not computed yet waits in `pending` until its second
        is; a later version of it replaces it there. A bar of a second already computed (a late
        version) becomes the close carried forward only if it is the leg's newest."""
        close = (float(close_text), close_text, second_ms)
        if self.last_second is None or second_ms > self.last_second:
            self.pending.setdefault(leg, {})[second_ms] = close
            return
        known = self.closes.get(leg)
        if known is None or second_ms >= known[2]:
            self.closes[leg] = close

    def _close_at(self, leg: str, second_ms: int) -> tuple[float, str, int] | None:
        """The leg's latest close at or before `second_ms`: a pending one, else the carried one."""
        waiting = [s for s in self.pending.get(leg, {}) if s <= second_ms]
        return self.pending[leg][max(waiting)] if waiting else self.closes.get(leg)

    def ready(self) -> bool:
        """Both legs have had a close (carried or pending): before that no second has a point."""
        return all(leg in self.closes or self.pending.get(leg) for leg in ("y", "x"))

    def known_until(self) -> int | None:
        """The newest second of a close of the leg that has the older one (each instrument's bars
        come in order of their second): how far the pair's input is known."""
        newest = []
        for leg in ("y", "x"):
            seconds = list(self.pending.get(leg, {})) + ([self.closes[leg][2]] if leg in self.closes else [])
            if not seconds:
                return None
            newest.append(max(seconds))
        return min(newest)

    def first_pending_after(self, second_ms: int | None) -> int | None:
        """The first second after `second_ms` (any, when None) with a close not computed yet."""
        seconds = [
            s for waiting in self.pending.values() for s in waiting if second_ms is None or s > second_ms
        ]
        return min(seconds, default=None)

    def fills(self, second_ms: int) -> dict[str, tuple[float, str, int]] | None:
        """Each leg's (close, text, age ms) at `second_ms`, or None when a leg has no close yet
        or a close older than the fill bound."""
        out = {}
        for leg in ("y", "x"):
            known = self._close_at(leg, second_ms)
            if known is None or second_ms - known[2] > self.params.fill_max_age_ms:
                return None
            out[leg] = (known[0], known[1], second_ms - known[2])
        return out

    def _advance(self, second_ms: int) -> None:
        """The pending closes up to `second_ms` are now the past: the newest becomes the close
        carried forward."""
        for leg, waiting in self.pending.items():
            done = [s for s in waiting if s <= second_ms]
            if done:
                self.closes[leg] = waiting[max(done)]
                for s in done:
                    del waiting[s]

    def _append(self, log_y: float, log_x: float) -> None:
        if self._end == self._buffer.shape[1]:
            kept = self.params.window_s - 1
            self._buffer[:, :kept] = self._buffer[:, self._end - kept : self._end]
            self._start, self._end = 0, kept
        self._buffer[:, self._end] = (log_y, log_x)
        self._end += 1
        self._start = max(self._start, self._end - self.params.window_s)

    def step(self, second_ms: int) -> dict[str, Any] | None:
        """The pair's record for second `second_ms` (the seconds come in increasing order), or
        None when a leg is missing or too stale (which breaks the series) or the window is still
        shorter than min_points."""
        if self.last_second is not None and second_ms <= self.last_second:
            return None
        self.stepped_to = second_ms
        fills = self.fills(second_ms)
        self._advance(second_ms)
        if fills is None:
            self._start = self._end = 0
            return None
        if self.last_second is None or second_ms - self.last_second != SECOND_MS:
            self._start = self._end = 0
        self.last_second = second_ms
        self._append(math.log(fills["y"][0]), math.log(fills["x"][0]))
        points = self._end - self._start
        if points < self.params.min_points:
            return None
        log_y, log_x = self._buffer[0, self._start : self._end], self._buffer[1, self._start : self._end]
        stats, spread = window_statistics(log_y, log_x)
        if spread is not None and (second_ms // SECOND_MS + self.phase) % self.params.adf_every_s == 0:
            result = adf_test(spread[-self.params.adf_points :])
            if result is not None:
                self.adf = (result.statistic, result.pvalue, result.lags, second_ms)
        return self._record(second_ms, points, fills, stats)

    def _record(
        self, second_ms: int, points: int, fills: dict[str, tuple[float, str, int]], stats: Statistics
    ) -> dict[str, Any]:
        adf = self.adf
        return {
            "schema_version": 1,
            "pair": self.spec.pair_id,
            "y": self.spec.y,
            "x": self.spec.x,
            "event_time": second_ms,
            "y_close": fills["y"][1],
            "x_close": fills["x"][1],
            "y_fill_age_ms": fills["y"][2],
            "x_fill_age_ms": fills["x"][2],
            "points": points,
            "beta": stats.beta,
            "alpha": stats.alpha,
            "r_squared": stats.r_squared,
            "spread": stats.spread,
            "spread_mean": stats.spread_mean,
            "spread_std": stats.spread_std,
            "zscore": stats.zscore,
            "return_corr": stats.return_corr,
            "half_life_s": stats.half_life_s,
            "adf_stat": adf[0] if adf else None,
            "adf_pvalue": adf[1] if adf else None,
            "adf_lags": adf[2] if adf else None,
            "adf_time": adf[3] if adf else None,
        }
