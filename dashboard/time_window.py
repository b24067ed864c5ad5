"""Time windows and bucket sizes for the history views.

Every history query is bounded by a window, and the window's end is aligned to a short step so two
reruns a fraction of a second apart ask the same question and hit the same `st.cache_data` entry.
Bucket sizes are chosen so a chart never carries more points than a browser draws quickly: a day
of 1 s bars is shown as 2-minute buckets (720 points), not 86 400 markers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

# Sidebar presets: label -> seconds.
RANGE_PRESETS: dict[str, int] = {
    "5 min": 300,
    "15 min": 900,
    "1 hour": 3_600,
    "6 hours": 21_600,
    "24 hours": 86_400,
}

# Steps a human reads easily on a time axis.
NICE_STEPS_S: tuple[int, ...] = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1_800, 3_600, 7_200, 21_600)


@dataclass(frozen=True)
class TimeWindow:
    """A half-open interval [start_ms, end_ms) in epoch milliseconds."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError(f"empty time window: {self.start_ms} >= {self.end_ms}")

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000.0

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.start_ms / 1000.0, tz=UTC)

    @property
    def end(self) -> datetime:
        return datetime.fromtimestamp(self.end_ms / 1000.0, tz=UTC)


def alignment_step_s(range_s: int) -> int:
    """The step the window end is rounded to: 1 s up to an hour, then 5 s, then 10 s for a day."""
    if range_s <= 3_600:
        return 1
    return 5 if range_s <= 21_600 else 10


def window_ending_at(range_s: int, now_ms: int) -> TimeWindow:
    """The window of `range_s` seconds that ends at `now_ms` rounded up to the alignment step, so the
    newest data is inside and nearby reruns share one cache key."""
    if range_s <= 0:
        raise ValueError("range must be positive")
    step_ms = alignment_step_s(range_s) * 1000
    end_ms = -(-now_ms // step_ms) * step_ms
    return TimeWindow(end_ms - range_s * 1000, end_ms)


def bucket_seconds(range_s: float, max_points: int) -> int:
    """The smallest nice bucket that keeps `range_s` at or under `max_points` points."""
    if max_points <= 0:
        raise ValueError("max_points must be positive")
    wanted = math.ceil(range_s / max_points)
    for step in NICE_STEPS_S:
        if step >= wanted:
            return step
    return NICE_STEPS_S[-1] * math.ceil(wanted / NICE_STEPS_S[-1])


def now_ms() -> int:
    return time.time_ns() // 1_000_000
