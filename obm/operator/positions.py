"""Where to start or stop reading a topic, as an operator types it, and its resolution to offsets.

`--from` and `--until` of `obm tail` and `obm replay`, and `--to` of `obm replay --rewind-group`,
all accept the same forms, so one parser serves them:

    earliest | latest          the low / high watermark of each partition
    1234                       that offset on every partition (clamped to what the log holds)
    -100                       100 records before the end, on every partition
    2026-11-21T10:00:00Z       the first record at or after that time (naive times are UTC)
    15m | 2h | 1d | 30s        that long ago
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import click

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


@dataclass(frozen=True)
class Position:
    """A parsed position. kind 'offset' may be negative (relative to the end); 'time' is epoch ms."""

    kind: Literal["earliest", "latest", "offset", "time"]
    value: int = 0

    def describe(self) -> str:
        if self.kind == "time":
            return datetime.fromtimestamp(self.value / 1000, UTC).isoformat(timespec="milliseconds")
        if self.kind == "offset":
            return f"offset {self.value}" if self.value >= 0 else f"{-self.value} before the end"
        return self.kind


def parse_position(text: str, *, now_ms: int | None = None) -> Position:
    """Parse one position; raises ValueError with a message meant for the operator."""
    spec = text.strip()
    low = spec.lower()
    if low in ("earliest", "beginning", "start"):
        return Position("earliest")
    if low in ("latest", "end", "now"):
        return Position("latest")
    if re.fullmatch(r"-?\d+", spec):
        return Position("offset", int(spec))
    m = _DURATION.match(low)
    if m:
        now = now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000)
        return Position("time", now - int(float(m.group(1)) * _UNIT_MS[m.group(2)]))
    try:
        moment = datetime.fromisoformat(spec.replace("Z", "+00:00") if spec.endswith("Z") else spec)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a position: use earliest, latest, an offset (1234, or -100 from the end), "
            "an ISO time (2026-11-21T10:00:00Z) or a duration ago (15m, 2h)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return Position("time", int(moment.timestamp() * 1000))


def offset_for(position: Position, low: int, high: int, time_offset: int | None = None) -> int:
    """The offset a position designates in a partition holding [low, high).

    For a time position the caller passes what the broker answered to offsets_for_times
    (`time_offset`); -1 or None there means no record at or after that time, so the end.
    """
    if position.kind == "earliest":
        return low
    if position.kind == "latest":
        return high
    if position.kind == "offset":
        wanted = position.value if position.value >= 0 else high + position.value
        return min(max(wanted, low), high)
    if time_offset is None or time_offset < 0:
        return high
    return min(max(time_offset, low), high)


class PositionType(click.ParamType):
    """A click parameter type, so a bad position fails at parse time with the forms listed."""

    name = "position"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> Position:
        if isinstance(value, Position):
            return value
        try:
            return parse_position(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


POSITION = PositionType()
