"""A symbol's own rolling distribution of one series, in O(1) state per key: what the adaptive
alert rules (alert_rules.py) compare an update with.

Why exponential and time-weighted: a rule that must hold per key in one pass per record (issue 21's
keyed operator) cannot keep a 10-minute window of every update; an exponentially weighted mean and
variance need four numbers, a decayed histogram a fixed array. Each value is weighted by how long
it held (from its update to the key's next one), so a burst of updates in one second does not
outweigh a quiet minute: the baseline is a property of time, not of the venue's update rate.

Arithmetic (the Java engine must do exactly this, in this order, in IEEE doubles). At an update at
time t > clock (the key's latest event time), the previous value x' having held since the clock,
dt = t - clock:
    a      = tau / (tau + dt)          (a rational decay: no exp, so Java and Python agree bit for bit)
    w      = 1 - a
    W'     = a * W
    W      = W' + w
    d      = x' - mean
    r      = w / W
    mean   = mean + r * d
    var    = (W' / W) * (var + r * d * d)
    seen   = seen + dt
(West's weighted incremental mean and variance: each held value weighs (1 - a) at its fold and is
decayed by a at every later one; stable, never negative.) Everything starts at 0, so no value is
favoured while the history is short. A missing value (None) holds nothing: the interval after it
is not folded. The current update is compared with the baseline before it enters, so an outlier
cannot hide itself; z is None until something has been folded.

Histograms (DecayedHistogram) fold the same way: every bin times a, then + w in the bin of x'. Bins
are floor((x - lo) * bins / (hi - lo)), clamped to [0, bins - 1]; sums run in bin order from 0.
- A bounded series (the imbalance, in [-1, 1], bimodal on many books: ETHUSDT spot's top-5
  imbalance sits near +-0.8 for long stretches, its z-score can never pass ~1.7) is judged by its
  rarity: the time-weighted fraction of its history at or beyond the current value's bin (half of
  that bin counted), as "1 in N" (alert_rules: score = +1/upper tail or -1/lower tail).
- For a z-score (spread), the percentile in an alert's context is that of z in a histogram of the z
  each folded value had: "how much of this symbol's recent time was less unusual than now"."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# The rarest tail a histogram reports (a value never seen before is "1 in 10,000").
MIN_TAIL = 1e-4


@dataclass
class DecayedHistogram:
    """Time-weighted exponential histogram of one series over [lo, hi] (the end bins open)."""

    tau_ms: float
    lo: float
    hi: float
    bins: int
    clock: int | None = None
    last_x: float | None = None
    weights: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.weights = [0.0] * self.bins

    def bin(self, x: float) -> int:
        return min(self.bins - 1, max(0, math.floor((x - self.lo) * self.bins / (self.hi - self.lo))))

    def fold(self, t: int, x: float | None) -> None:
        if self.clock is not None and t > self.clock and self.last_x is not None:
            a = self.tau_ms / (self.tau_ms + (t - self.clock))
            for i in range(self.bins):
                self.weights[i] *= a
            self.weights[self.bin(self.last_x)] += 1 - a
        self.clock = t if self.clock is None else max(self.clock, t)
        self.last_x = x

    def tails(self, x: float) -> tuple[float, float] | None:
        """(lower, upper): time fractions below and above x's bin, each with half of that bin."""
        b = self.bin(x)
        below = above = total = 0.0
        for i in range(self.bins):
            total += self.weights[i]
            if i < b:
                below += self.weights[i]
            elif i > b:
                above += self.weights[i]
        if total <= 0:
            return None
        half = 0.5 * self.weights[b]
        return (below + half) / total, (above + half) / total

    def rarity(self, x: float) -> float | None:
        """+1/upper tail when x is in its upper half, -1/lower tail in the lower ("1 in N")."""
        tails = self.tails(x)
        if tails is None:
            return None
        lower, upper = tails
        return 1 / max(upper, MIN_TAIL) if upper <= lower else -1 / max(lower, MIN_TAIL)


@dataclass
class Baseline:
    """Time-weighted exponential mean and variance of one series of one key, and the percentile
    of z among the z-scores of its history."""

    tau_ms: float
    # The dispersion floor: max(sd_floor, sd_floor_frac * |mean|).
    sd_floor: float = 0.0
    sd_floor_frac: float = 0.0
    weight: float = 0.0
    mean: float = 0.0
    var: float = 0.0
    seen_ms: int = 0
    clock: int | None = None
    last_x: float | None = None
    z_hist: DecayedHistogram | None = None

    def __post_init__(self) -> None:
        self.z_hist = DecayedHistogram(self.tau_ms, -8.0, 8.0, 64)

    def fold(self, t: int, x: float | None) -> float | None:
        """Advance to the update at `t` (the key's clock: an older event time counts at the
        clock), folding in the previous value for the time it held, then take `x` (None: missing)
        as the value that holds from now. Returns the z of `x` against the advanced baseline."""
        if self.clock is not None and t > self.clock and self.last_x is not None:
            dt = t - self.clock
            a = self.tau_ms / (self.tau_ms + dt)
            w = 1 - a
            decayed = a * self.weight
            self.weight = decayed + w
            d = self.last_x - self.mean
            r = w / self.weight
            self.mean = self.mean + r * d
            self.var = (decayed / self.weight) * (self.var + r * d * d)
            self.seen_ms += dt
        self.clock = t if self.clock is None else max(self.clock, t)
        self.last_x = x
        z = None if x is None or self.weight <= 0 else self.z(x)
        assert self.z_hist is not None
        self.z_hist.fold(t, z)
        return z

    def std(self) -> float:
        return max(math.sqrt(self.var), self.sd_floor, self.sd_floor_frac * abs(self.mean))

    def z(self, x: float) -> float:
        """(x - mean) / max(std, floor): the floor keeps a series that barely moves (a one-tick
        spread) from calling every tick unusual. 0 when there is no dispersion at all."""
        sd = self.std()
        return (x - self.mean) / sd if sd > 0 else 0.0

    def percentile(self, z: float) -> float | None:
        """Time-weighted fraction of the history's z-scores below `z` (half of its own bin)."""
        assert self.z_hist is not None
        tails = self.z_hist.tails(z)
        return None if tails is None else tails[0]


@dataclass
class RootMeanSquare:
    """Time-weighted exponential mean of x^2 (the same weights and clock as Baseline: mean_square
    = mean_square + r * (x'^2 - mean_square)): the volatility a series like the imbalance velocity
    has around zero, so |v| / rms says how unusual a move is."""

    tau_ms: float
    weight: float = 0.0
    mean_square: float = 0.0
    seen_ms: int = 0
    clock: int | None = None
    last_x: float | None = None

    def fold(self, t: int, x: float | None) -> None:
        if self.clock is not None and t > self.clock and self.last_x is not None:
            dt = t - self.clock
            a = self.tau_ms / (self.tau_ms + dt)
            w = 1 - a
            self.weight = a * self.weight + w
            r = w / self.weight
            self.mean_square = self.mean_square + r * (self.last_x * self.last_x - self.mean_square)
            self.seen_ms += dt
        self.clock = t if self.clock is None else max(self.clock, t)
        self.last_x = x

    def rms(self, floor: float) -> float:
        return max(math.sqrt(self.mean_square), floor)
