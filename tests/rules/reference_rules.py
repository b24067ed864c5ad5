"""The user rules in plain Python, written from the definition (rules/model.py, RuleEvaluator's
class comment), not from the Java: what the rules job must emit for a bounded input.

Per rule and book: an episode begins at the first record whose value meets the condition (for a
cross, only where the previous value was known and on the other side of the threshold) and ends at
the first that does not (a missing value ends it); it fires once, at its first record held for at
least min_duration_ms since it began and at least cooldown_ms after the rule's last alert on the
book. Records in arrival order."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

# (rule_id, exchange, symbol, window_start, window_end, severity, metric_value, threshold)
Expected = tuple[int, str, str, int, int, str, float, float]


def covers(scope: str, exchange: str, symbol: str) -> bool:
    if scope == "all":
        return True
    return fnmatchcase(f"{exchange}:{symbol}" if ":" in scope else symbol, scope)


def _subject(rec: dict[str, Any]) -> tuple[str, str, str]:
    """(key, exchange, symbol) of a record: a pair's key is the pair y/x, its exchange and symbol
    the y leg's (as the alert names them); a book's or bar's key is exchange:symbol."""
    if "pair" in rec:
        exchange, symbol = rec["pair"].split("/")[0].split(":")
        return rec["pair"], exchange, symbol
    return f"{rec['exchange']}:{rec['symbol']}", rec["exchange"], rec["symbol"]


def _source(rec: dict[str, Any], topic: str) -> str:
    return f"{topic}:{rec['interval']}" if "interval" in rec else topic


def meets(condition: str, value: float | None, threshold: float) -> bool:
    if value is None:
        return False
    if condition in (">", "crosses above"):
        return value > threshold
    if condition in ("<", "crosses below"):
        return value < threshold
    return abs(value) > threshold


def may_begin(condition: str, previous: float | None, threshold: float) -> bool:
    if condition == "crosses above":
        return previous is not None and previous <= threshold
    if condition == "crosses below":
        return previous is not None and previous >= threshold
    return True


def reference_rule_alerts(
    records: list[dict[str, Any]], rules: list[dict[str, Any]], topic: str = "orderbook.processed"
) -> list[Expected]:
    """The alerts of the live rules (enabled, not deleted) on `topic`'s records, sorted. A rule
    watches the records of its source (default the books; a bar topic's source names the interval,
    trades.bars:1m); a pair rule's scope matches the pair y/x. A record's time is its event_time,
    a bar's its window_start; decimal texts are values."""
    live = [r for r in rules if r["enabled"] and not r.get("deleted", False)]
    state: dict[tuple[int, str], dict[str, Any]] = {}
    out: list[Expected] = []
    for rec in records:
        key, ex, sym = _subject(rec)
        t = rec["event_time"] if "event_time" in rec else rec["window_start"]
        for rule in live:
            if rule.get("source", "orderbook.processed") != _source(rec, topic):
                continue
            if "pair" in rec:
                covered = rule["scope"] == "all" or fnmatchcase(key, rule["scope"])
            else:
                covered = covers(rule["scope"], ex, sym)
            if not covered:
                continue
            s = state.setdefault(
                (rule["rule_id"], key), {"start": None, "fired": False, "last": None, "prev": None}
            )
            raw = rec.get(rule["metric"])
            value = float(raw) if isinstance(raw, str) else raw
            if not meets(rule["condition"], value, rule["threshold"]):
                s["start"], s["fired"] = None, False
            elif s["start"] is None and may_begin(rule["condition"], s["prev"], rule["threshold"]):
                s["start"], s["fired"] = t, False
            if (
                s["start"] is not None
                and not s["fired"]
                and t - s["start"] >= rule["min_duration_ms"]
                and (s["last"] is None or t - s["last"] >= rule["cooldown_ms"])
            ):
                s["fired"], s["last"] = True, t
                out.append(
                    (rule["rule_id"], ex, sym, s["start"], t, rule["severity"], value, rule["threshold"])
                )
            s["prev"] = value
    return sorted(out)


def as_expected(alert: dict[str, Any], rule_id: int) -> Expected:
    return (
        rule_id, alert["exchange"], alert["symbol"], alert["window_start"], alert["window_end"],
        alert["severity"], alert["metric_value"], alert["threshold"],
    )  # fmt: skip
