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

import bisect
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
    return pair_window_statistics(np.vstack((log_y, log_x)))


def pair_window_statistics(window: NDArray[np.float64]) -> tuple[Statistics, NDArray[np.float64] | None]:
    """window_statistics of the 2 x n array [ln y; ln x] (PairState's buffer, not copied): both
    legs centred, their sums of squares and products in one product of 2 x n by n x 2, and the
    returns' likewise, so a window costs ~20 small numpy calls (docs/benchmarks.md)."""
    stats = Statistics()
    n = window.shape[1]
    means = window.sum(axis=1) / n
    centred_legs = window - means[:, None]
    (syy, sxy), (_, sxx) = (centred_legs @ centred_legs.T).tolist()
    if n >= 3:
        returns = centred_legs[:, 1:] - centred_legs[:, :-1]
        returns -= returns.sum(axis=1, keepdims=True) / (n - 1)
        (ryy, rxy), (_, rxx) = (returns @ returns.T).tolist()
        if ryy > 0.0 and rxx > 0.0:
            stats.return_corr = _finite(rxy / math.sqrt(ryy * rxx))
    if sxx <= 0.0:
        return stats, None
    beta = sxy / sxx
    mean_y, mean_x = means.tolist()
    stats.beta = beta
    stats.alpha = mean_y - beta * mean_x
    stats.r_squared = _finite(sxy * sxy / (sxx * syy)) if syy > 0.0 else None
    spread = centred_legs[0] - beta * centred_legs[1]
    mean = float(spread.sum()) / n
    centred = spread - mean
    std = math.sqrt(float(centred @ centred) / n)
    stats.spread, stats.spread_mean, stats.spread_std = float(spread[-1]), mean, std
    stats.zscore = _finite(float(centred[-1]) / std) if std > 0.0 else None
    stats.half_life_s = half_life(spread)
    return stats, spread


def half_life(spread: NDArray[np.float64]) -> float | None:
    """−ln 2 / ln(1 + b) of the OLS fit Δs_t = a + b s_{t−1} (seconds: one point per second)."""
    m = spread.shape[0] - 1
    if m < 3:
        return None
    lagged, change = spread[:-1], spread[1:] - spread[:-1]
    centred = lagged - float(lagged.sum()) / m
    sxx = float(centred @ centred)
    if sxx <= 0.0:
        return None
    phi = 1.0 + float(centred @ (change - float(change.sum()) / m)) / sxx
    if not 0.0 < phi < 1.0:
        return None
    return _finite(-math.log(2.0) / math.log(phi))


class Pending:
    """One leg's closes of seconds not computed yet, by second in increasing order (each
    instrument's bars come in order of their second; one that does not is inserted in place):
    the latest at or before a second, the first after one, and dropping the computed ones are
    bisections, not scans. A pair never started (its other leg not read yet) holds hundreds."""

    __slots__ = ("seconds", "closes")

    def __init__(self) -> None:
        self.seconds: list[int] = []
        self.closes: list[tuple[float, str, int]] = []

    def put(self, close: tuple[float, str, int]) -> None:
        second = close[2]
        if not self.seconds or second > self.seconds[-1]:
            self.seconds.append(second)
            self.closes.append(close)
            return
        i = bisect.bisect_left(self.seconds, second)
        if i < len(self.seconds) and self.seconds[i] == second:  # a later version of the bar
            self.closes[i] = close
        else:
            self.seconds.insert(i, second)
            self.closes.insert(i, close)

    def __len__(self) -> int:
        return len(self.seconds)

    def __getstate__(self) -> tuple[list[int], list[tuple[float, str, int]]]:
        return self.seconds, self.closes

    def __setstate__(self, state: tuple[list[int], list[tuple[float, str, int]]]) -> None:
        self.seconds, self.closes = state


class PairState:
    """One pair's state: each leg's close carried forward (value, text, second) and the closes
    of seconds not computed yet (`Pending`), the newest second known of each leg, the window of
    aligned log closes (a buffer of twice the window, slid back when full: O(1) per point; only
    the window itself is pickled), the last emitted second, the latest ADF, and `changes` (moves
    on every change: flink_jobs/pairs.fingerprint). Picklable: the Flink job keeps it in keyed
    state; a state pickled by the previous layout (pending as dicts) is converted on load."""

    # The last second `step` was called with (a class default: states pickled before it existed).
    stepped_to: int | None = None
    # Started behind the seconds the other pairs computed (a leg read late): bounded by how far
    # both legs' bars have come until they reach the pairs' second (flink_jobs/pairs.step_pair).
    catching_up: bool = False
    # While catching up: the newest `known_until` seen and the wall time it was first seen
    # (a lagging leg that brings nothing new for PairSettings.catch_up_release_ms is quiet).
    known_seen: int | None = None
    known_seen_at_ms: int = 0
    changes: int = 0

    def __init__(self, spec: PairSpec, params: PairParameters) -> None:
        self.spec, self.params = spec, params
        self.phase = zlib.crc32(spec.pair_id.encode()) % params.adf_every_s
        self.closes: dict[str, tuple[float, str, int]] = {}  # "y"/"x" -> (close, text, second ms)
        self.pending: dict[str, Pending] = {"y": Pending(), "x": Pending()}
        self.newest: dict[str, int] = {}  # leg -> the newest second of a close seen
        self._buffer = np.empty((2, 2 * params.window_s))
        self._start = self._end = 0
        self.last_second: int | None = None
        self.adf: tuple[float, float, int, int] | None = None  # statistic, p-value, lags, at ms

    def __getstate__(self) -> dict[str, Any]:
        """Only the window of the buffer, as bytes, and the spec and parameters as tuples: half
        the size and a third of the time of pickling the objects (each call writes back every
        pair it stepped: in streaming, all of them every second)."""
        state = self.__dict__.copy()
        state["_buffer"] = self._buffer[:, self._start : self._end].tobytes()
        state["_start"], state["_end"] = 0, self._end - self._start
        state["spec"] = (self.spec.y, self.spec.x)
        params = self.params
        state["params"] = (
            params.window_s, params.min_points, params.fill_max_age_ms, params.adf_every_s, params.adf_points
        )  # fmt: skip
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state["spec"], tuple):
            state["spec"], state["params"] = PairSpec(*state["spec"]), PairParameters(*state["params"])
        stored = state["_buffer"]
        if isinstance(stored, bytes):
            window = np.frombuffer(stored).reshape(2, state["_end"])
        else:  # the previous layout: the whole buffer
            window = stored[:, state["_start"] : state["_end"]]
        state["_buffer"] = np.empty((2, 2 * state["params"].window_s))
        state["_buffer"][:, : window.shape[1]] = window
        state["_start"], state["_end"] = 0, window.shape[1]
        pending = state["pending"]
        if any(isinstance(waiting, dict) for waiting in pending.values()):  # the previous layout
            state["pending"] = {leg: Pending() for leg in ("y", "x")}
            for leg, waiting in pending.items():
                for second in sorted(waiting):
                    state["pending"][leg].put(waiting[second])
            state["newest"] = {
                leg: max(
                    [*pending.get(leg, {})] + ([state["closes"][leg][2]] if leg in state["closes"] else [])
                )
                for leg in ("y", "x")
                if pending.get(leg) or leg in state["closes"]
            }
        self.__dict__.update(state)

    def on_close(self, leg: str, second_ms: int, close_text: str) -> None:
        """A 1 s bar's close of one leg. Bars run ahead of the seconds computed (the watermark
        trails them), so a bar of a second not computed yet waits in `pending` until its second
        is; a later version of it replaces it there. A bar of a second already computed (a late
        version) becomes the close carried forward only if it is the leg's newest."""
        self.changes += 1
        close = (float(close_text), close_text, second_ms)
        if second_ms > self.newest.get(leg, second_ms - 1):
            self.newest[leg] = second_ms
        if self.last_second is None or second_ms > self.last_second:
            self.pending[leg].put(close)
            return
        known = self.closes.get(leg)
        if known is None or second_ms >= known[2]:
            self.closes[leg] = close

    def start_with(self, y: Pending, x: Pending) -> None:
        """A pair not started takes the closes its legs' instruments kept while it waited
        (flink_jobs/pair_calls.apply_closes): what applying each on arrival would have left."""
        self.changes += 1
        for leg, waiting in (("y", y), ("x", x)):
            for close in waiting.closes:
                self.pending[leg].put(close)
            if waiting.seconds:
                self.newest[leg] = max(self.newest.get(leg, waiting.seconds[-1]), waiting.seconds[-1])

    def _close_at(self, leg: str, second_ms: int) -> tuple[float, str, int] | None:
        """The leg's latest close at or before `second_ms`: a pending one, else the carried one."""
        waiting = self.pending[leg]
        i = bisect.bisect_right(waiting.seconds, second_ms)
        return waiting.closes[i - 1] if i else self.closes.get(leg)

    def ready(self) -> bool:
        """Both legs have had a close (carried or pending): before that no second has a point."""
        return len(self.newest) == 2

    def known_until(self) -> int | None:
        """The newest second of a close of the leg that has the older one (each instrument's bars
        come in order of their second): how far the pair's input is known."""
        newest = self.newest
        return min(newest["y"], newest["x"]) if len(newest) == 2 else None

    def first_pending_after(self, second_ms: int | None) -> int | None:
        """The first second after `second_ms` (any, when None) with a close not computed yet."""
        first = None
        for waiting in self.pending.values():
            seconds = waiting.seconds
            i = 0 if second_ms is None else bisect.bisect_right(seconds, second_ms)
            if i < len(seconds) and (first is None or seconds[i] < first):
                first = seconds[i]
        return first

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
            i = bisect.bisect_right(waiting.seconds, second_ms)
            if i:
                self.closes[leg] = waiting.closes[i - 1]
                del waiting.seconds[:i], waiting.closes[:i]

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
        self.changes += 1
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
        stats, spread = pair_window_statistics(self._buffer[:, self._start : self._end])
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
