"""The cooldown of the alerts job and the alert record: from candidates (alert_patterns.py) to
`orderbook.alerts` rows.

Why Python and not SQL: "no repeat of a type for a symbol within the cooldown of the last alert
*emitted*, unless the severity rises" depends on which earlier candidates were emitted, a
recursion over the candidate stream that neither OVER windows nor MATCH_RECOGNIZE can express
without waiting for the next candidate (a pattern only ends on a later row). The candidate stream
is small (one row per confirmed episode), so a keyed process function costs little (measured in
bench/flink_alerts.py).

Determinism: candidates of one key may come from different pattern operators (medium and high
extremes), so their arrival order is not fixed. They are buffered and decided on event-time timers,
in (event time, severity descending, start) order, once the watermark has passed them: replays and
restarts from a savepoint make the same decisions. The alert id is a function of the candidate
alone (type, exchange, symbol, episode start, severity), so a replayed alert has the same id and
the sinks, which dedupe by id, keep one.

A candidate can reach the cooldown behind its watermark: when the input was idle (every partition
quiet for the idle timeout) and resumes, the five detection branches in front of the cooldown
become active again one after the other, and the watermark of their union follows the first one
back. Its timer could fire only at a later watermark, which an input that stops again never
brings (issue 13: alerts missing after a redeploy), so such a candidate is decided on arrival,
with whatever of its key waits up to that watermark."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import Any

from pyflink.common import Row
from pyflink.common.typeinfo import Types
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ListStateDescriptor, ValueStateDescriptor

from flink_jobs.connectors import KEY_COLUMN, schema_columns
from schemas import Topic, record_key

SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3}
_TYPE_INFO = {"STRING": Types.STRING(), "INT": Types.INT(), "BIGINT": Types.LONG(), "DOUBLE": Types.DOUBLE()}
ALERT_FIELDS = [KEY_COLUMN] + [name for name, _ in schema_columns(Topic.ALERTS)]
ALERT_ROW_TYPE = Types.ROW_NAMED(
    ALERT_FIELDS, [Types.STRING()] + [_TYPE_INFO[sql_type] for _, sql_type in schema_columns(Topic.ALERTS)]
)


@dataclass(frozen=True)
class Candidate:
    """One confirmed episode, as detected (the columns of alert_patterns.CANDIDATE_COLUMNS)."""

    alert_type: str
    severity: str
    exchange: str
    market: str
    symbol: str
    metric_value: float
    threshold: float
    window_start: int
    window_end: int
    event_time: int
    cooldown_ms: int
    detail: float | None

    @classmethod
    def from_row(cls, row: Any) -> Candidate:
        return cls(
            row.alert_type, row.severity, row.exchange, row.market, row.symbol, float(row.metric_value),
            float(row.threshold), int(row.window_start), int(row.window_end), int(row.event_time),
            int(row.cooldown_ms), None if row.detail is None else float(row.detail),
        )  # fmt: skip

    @property
    def rank(self) -> int:
        return SEVERITY_RANK[self.severity]

    def decision_order(self) -> tuple[int, int, int, str]:
        return (self.event_time, -self.rank, self.window_start, alert_id(self))


def cooldown_key(candidate: Candidate) -> str:
    """The cooldown applies per alert type and symbol (of one exchange)."""
    return f"{candidate.alert_type}|{candidate.exchange}|{candidate.symbol}"


@dataclass(frozen=True)
class LastAlert:
    event_time: int
    rank: int


def admit(last: LastAlert | None, candidate: Candidate) -> bool:
    """Emit unless an alert of the same key was emitted less than cooldown_ms before, at the same
    or a higher severity."""
    if last is None or candidate.rank > last.rank:
        return True
    return candidate.event_time - last.event_time >= candidate.cooldown_ms


def decide(
    waiting: list[Candidate], last: LastAlert | None, up_to: int
) -> tuple[list[Candidate], list[Candidate], LastAlert | None]:
    """Decide the waiting candidates at or before `up_to` in decision order: (raised, still
    waiting, last alert raised)."""
    due = sorted((c for c in waiting if c.event_time <= up_to), key=Candidate.decision_order)
    raised = []
    for candidate in due:
        if admit(last, candidate):
            last = LastAlert(candidate.event_time, candidate.rank)
            raised.append(candidate)
    return raised, [c for c in waiting if c.event_time > up_to], last


def alert_id(candidate: Candidate) -> str:
    """Readable and deterministic: one episode (type, key, start, severity) has one id."""
    c = candidate
    return f"{c.alert_type}:{c.exchange}:{c.symbol}:{c.window_start}:{c.severity}"


def alert_message(candidate: Candidate) -> str:
    c = candidate
    held = (c.window_end - c.window_start) / 1000
    if c.alert_type == "imbalance_extreme":
        bound = f">= {c.threshold:.2f}" if c.metric_value > 0 else f"<= {-c.threshold:.2f}"
        side = "bid" if c.metric_value > 0 else "ask"
        level = int(c.detail) if c.detail is not None else 0
        return (
            f"{c.symbol} top-{level} imbalance {c.metric_value:+.2f} {bound} for {held:.1f} s ({side}-heavy)"
        )
    if c.alert_type == "imbalance_flip":
        start = c.detail if c.detail is not None else float("nan")
        return (
            f"{c.symbol} imbalance flipped from {start:+.2f} to {c.metric_value:+.2f} in {held:.1f} s"
            f" (|imbalance| >= {c.threshold:.2f} on both sides)"
        )
    if c.alert_type == "spread_widening":
        spread = c.detail if c.detail is not None else float("nan")
        return (
            f"{c.symbol} spread {spread:.2f} bps is {c.metric_value:.2f}x its rolling mean"
            f" (>= {c.threshold:.2f}x) for {held:.1f} s"
        )
    return f"{c.symbol} imbalance velocity {c.metric_value:+.3f}/s, |v| >= {c.threshold:.3f}/s"


def alert_row(candidate: Candidate) -> Row:
    """The orderbook.alerts record (with its Kafka key first), in ALERT_FIELDS order."""
    c = candidate
    values = {
        KEY_COLUMN: record_key(c.exchange, c.symbol),
        "schema_version": 1,
        "alert_id": alert_id(c),
        "alert_type": c.alert_type,
        "severity": c.severity,
        "exchange": c.exchange,
        "market": c.market,
        "symbol": c.symbol,
        "metric_value": c.metric_value,
        "threshold": c.threshold,
        "window_start": c.window_start,
        "window_end": c.window_end,
        "event_time": c.event_time,
        "message": alert_message(c),
    }
    return Row(*[values[name] for name in ALERT_FIELDS])


def candidate_key(row: Any) -> str:
    """key_by selector on candidate rows."""
    return f"{row.alert_type}|{row.exchange}|{row.symbol}"


class CooldownFunction(KeyedProcessFunction):
    """Keyed by cooldown_key. State: candidates waiting for the watermark, and the last alert."""

    def open(self, runtime_context: RuntimeContext) -> None:
        self.pending = runtime_context.get_list_state(
            ListStateDescriptor("pending", Types.PICKLED_BYTE_ARRAY())
        )
        self.last = runtime_context.get_state(ValueStateDescriptor("last_alert", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> list[Row]:
        candidate = Candidate.from_row(value)
        self.pending.add(astuple(candidate))
        watermark = ctx.timer_service().current_watermark()
        if watermark is not None and candidate.event_time <= watermark:
            return self._decide(watermark)  # behind the watermark: see the module docstring
        ctx.timer_service().register_event_time_timer(candidate.event_time)
        return []

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> list[Row]:
        return self._decide(timestamp)

    def _decide(self, up_to: int) -> list[Row]:
        waiting = [Candidate(*fields) for fields in (self.pending.get() or [])]
        last_fields = self.last.value()
        raised, later, last = decide(
            waiting, LastAlert(*last_fields) if last_fields is not None else None, up_to
        )
        if later:
            self.pending.update([astuple(c) for c in later])
        else:
            self.pending.clear()
        if last is not None:
            self.last.update(astuple(last))
        return [alert_row(c) for c in raised]
