"""A symbol's own rolling distribution of one series, in O(1) state per key: what the adaptive
alert rules (alert_rules.py) compare an update with.

Why exponential and time-weighted: a rule that must hold per key in one pass per record (issue 21's
keyed operator) cannot keep a 10-minute window of every update; an exponentially weighted mean and
variance need three numbers. Each value is weighted by how long it held (from its update to the
next one of the key), so a burst of updates in one second does not outweigh a quiet minute, and the
baseline is a property of time, not of the venue's update rate.

Arithmetic (the Java engine must do exactly this, in this order, in IEEE doubles):
at an update at time t > clock (the key's latest event time), the previous value x' held since
the clock, dt = t - clock:
    a    = tau / (tau + dt)          (a rational decay: no exp, so Java and Python agree bit for bit)
    d    = x' - mean
    mean = mean + (1 - a) * d
    var  = a * (var + d * (1 - a) * d)     (West/Finch: stable, never negative)
    seen = seen + dt
The first value of a key sets mean = x, var = 0, seen = 0. An update whose value is missing (None)
holds nothing: the interval after it is not folded. The current update is not in the baseline it
is compared with, so an outlier cannot hide itself.

The percentile is of the z-score: a decayed histogram of the z each folded value had against the
baseline of its own time, on a fixed grid (Z_BINS bins of Z_STEP over [-Z_LIMIT, Z_LIMIT], the ends
open), folded with the same weights. It answers "how much of this symbol's recent time was less
unusual than now" without assuming a normal shape, in state of a fixed size."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

Z_LIMIT = 8.0
Z_STEP = 0.25
Z_BINS = int(2 * Z_LIMIT / Z_STEP)


def z_bin(z: float) -> int:
    """The histogram bin of a z-score (the ends take everything beyond +-Z_LIMIT)."""
    return min(Z_BINS - 1, max(0, math.floor((z + Z_LIMIT) / Z_STEP)))


@dataclass
class Baseline:
    """Time-weighted exponential mean, variance and z-percentile of one series of one key."""

    tau_ms: float
    # The dispersion floor: max(sd_floor, sd_floor_frac * |mean|).
    sd_floor: float = 0.0
    sd_floor_frac: float = 0.0
    mean: float = 0.0
    var: float = 0.0
    seen_ms: int = 0
    clock: int | None = None
    last_x: float | None = None
    last_z: float | None = None
    started: bool = False
    hist: list[float] = field(default_factory=lambda: [0.0] * Z_BINS)

    def fold(self, t: int, x: float | None) -> float | None:
        """Advance to the update at `t` (the key's clock: an older event time counts at the
        clock), folding in the previous value for the time it held, then take `x` (None: missing)
        as the value that holds from now. Returns the z of `x` against the advanced baseline."""
        if self.clock is not None and t > self.clock and self.last_x is not None:
            dt = t - self.clock
            a = self.tau_ms / (self.tau_ms + dt)
            d = self.last_x - self.mean
            self.mean = self.mean + (1 - a) * d
            self.var = a * (self.var + d * (1 - a) * d)
            self.seen_ms += dt
            for i in range(Z_BINS):
                self.hist[i] *= a
            if self.last_z is not None:
                self.hist[z_bin(self.last_z)] += 1 - a
        self.clock = t if self.clock is None else max(self.clock, t)
        if x is not None and not self.started:
            self.mean, self.var, self.started = x, 0.0, True
        self.last_x = x
        self.last_z = None if x is None else self.z(x)
        return self.last_z

    def std(self) -> float:
        return max(math.sqrt(self.var), self.sd_floor, self.sd_floor_frac * abs(self.mean))

    def z(self, x: float) -> float:
        """(x - mean) / max(std, floor): the floor keeps a series that barely moves (a one-tick
        spread) from calling every tick unusual. 0 when there is no dispersion at all."""
        sd = self.std()
        return (x - self.mean) / sd if sd > 0 else 0.0

    def percentile(self, z: float) -> float | None:
        """Time-weighted fraction of the baseline's z-scores below `z` (half of its own bin)."""
        total = math.fsum(self.hist)
        if total <= 0:
            return None
        b = z_bin(z)
        return (math.fsum(self.hist[:b]) + 0.5 * self.hist[b]) / total


@dataclass
class RootMeanSquare:
    """Time-weighted exponential mean of x^2 (same decay and clock as Baseline): the volatility a
    series like the imbalance velocity has around zero, so |v| / rms says how unusual a move is."""

    tau_ms: float
    mean_square: float = 0.0
    seen_ms: int = 0
    clock: int | None = None
    last_x: float | None = None

    def fold(self, t: int, x: float | None) -> None:
        if self.clock is not None and t > self.clock and self.last_x is not None:
            dt = t - self.clock
            a = self.tau_ms / (self.tau_ms + dt)
            self.mean_square = a * self.mean_square + (1 - a) * (self.last_x * self.last_x)
            self.seen_ms += dt
        self.clock = t if self.clock is None else max(self.clock, t)
        self.last_x = x

    def rms(self, floor: float) -> float:
        return max(math.sqrt(self.mean_square), floor)
