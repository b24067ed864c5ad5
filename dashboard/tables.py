"""Pure shaping of records into the tables the pages show: no I/O, no Streamlit, so every rule
(which imbalance level, how old is stale, what a delta compares against) is unit-tested.

Records come in two shapes: JSON from Redis (times as epoch ms) and rows from PostgreSQL (times
as timestamptz). The functions here accept both and hand back one shape.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from config import AlertSettings
from dashboard.alert_context import book_line, context_of, why_line
from dashboard.formatting import format_age, format_price, format_signed, is_missing, time_ago
from dashboard.metric_columns import MetricColumns, imbalance_column
from dashboard.metric_help import metric_help
from schemas import record_key, split_record_key

OVERVIEW_COLUMNS = [
    "Symbol",
    "Exchange",
    "Mid",
    "Imbalance",
    "Levels",
    "Spread bps",
    "OFI",
    "Lean bps",
    "Last alert",
    "Alert age",
    "Data age s",
]

ALERT_COLUMNS = [
    "time",
    "event_time_ms",
    "exchange",
    "symbol",
    "alert_type",
    "severity",
    "metric_value",
    "threshold",
    "message",
    "alert_id",
    "context",
    "rule_id",
    "rule_name",
    "rule_version",
]


def to_epoch_ms(value: Any) -> int | None:
    """Epoch ms from an int (already ms), a datetime, a pandas Timestamp or None."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int(value.timestamp() * 1000)
    return int(value)


def _first_present(record: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = record.get(name)
        if value is not None:
            return value
    return None


def overview_frame(
    latest: Mapping[str, Mapping[str, Any] | None],
    last_alerts: Mapping[str, Mapping[str, Any] | None],
    now_ms: int,
    columns: MetricColumns,
) -> pd.DataFrame:
    """One row per `exchange:symbol`. A symbol whose latest record expired (TTL) keeps its row
    with empty values and no data age, so a dead feed is visible instead of silently missing.
    Imbalance is the top-N its alerts watch (per-symbol overrides included; N in `Levels`)."""
    rows = []
    for key in sorted(latest):
        exchange, symbol = split_record_key(key)
        record = latest[key] or {}
        alert = last_alerts.get(key)
        event_ms = record.get("event_time")
        alert_ms = to_epoch_ms(alert.get("event_time")) if alert else None
        rows.append(
            {
                "Symbol": symbol,
                "Exchange": exchange,
                "Mid": record.get("mid"),
                "Imbalance": record.get(columns.imbalance(symbol)),
                "Levels": columns.imbalance_level(symbol),
                "Spread bps": record.get("spread_bps"),
                "OFI": record.get(columns.ofi),
                "Lean bps": record.get("microprice_lean_bps"),
                "Last alert": f"{alert['severity']} {alert['alert_type']}" if alert else "",
                "Alert age": time_ago(alert_ms, now_ms) if alert_ms is not None else "",
                "Data age s": (now_ms - event_ms) / 1000.0 if event_ms is not None else None,
            }
        )
    frame = pd.DataFrame(rows, columns=OVERVIEW_COLUMNS)
    numeric = ["Mid", "Imbalance", "Spread bps", "OFI", "Lean bps", "Data age s"]
    frame[numeric] = frame[numeric].astype("float64")
    return frame


def imbalance_bands(symbols: Iterable[str], columns: MetricColumns) -> pd.DataFrame:
    """Per symbol (in order): the |imbalance| of a medium and of a high alert in force for it, so
    a cell is coloured, and counted as strong, exactly where that symbol's alert would fire."""
    rows = [columns.thresholds(symbol) for symbol in symbols]
    return pd.DataFrame(
        {"medium": [r["imbalance_medium"] for r in rows], "high": [r["imbalance_high"] for r in rows]},
        dtype="float64",
    )


def threshold_note(alerts: AlertSettings, name: str) -> str:
    """A threshold as a reader should see it: `0.7`, or `0.7 by default, 0.8 for BTCUSDT` when
    symbols override it (the values `for_symbol` gives, i.e. those in force)."""
    default = alerts.for_symbol("")[name]
    in_force = {symbol: alerts.for_symbol(symbol)[name] for symbol in sorted(alerts.overrides)}
    overridden = {symbol: value for symbol, value in in_force.items() if value != default}
    if not overridden:
        return f"{default:g}"
    return f"{default:g} by default, " + ", ".join(f"{v:g} for {s}" for s, v in overridden.items())


def alerts_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Alerts newest first, with `time` as a UTC timestamp whatever the source's time type."""
    rows = []
    for record in records:
        event_ms = to_epoch_ms(_first_present(record, "event_time", "ts"))
        if event_ms is None:
            continue
        rows.append(
            {
                "time": pd.Timestamp(event_ms, unit="ms", tz="UTC"),
                "event_time_ms": event_ms,
                **{name: record.get(name) for name in ALERT_COLUMNS[2:]},
            }
        )
    frame = pd.DataFrame(rows, columns=ALERT_COLUMNS)
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    frame["event_time_ms"] = frame["event_time_ms"].astype("int64")
    return frame.sort_values(["event_time_ms", "alert_id"], ascending=[False, True], ignore_index=True)


def filter_alerts(
    frame: pd.DataFrame,
    *,
    severities: Iterable[str] = (),
    alert_types: Iterable[str] = (),
    symbols: Iterable[str] = (),
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> pd.DataFrame:
    """The same filters the SQL query applies, for the Redis fallback. Empty filter = all."""
    mask = pd.Series(True, index=frame.index)
    if severities := list(severities):
        mask &= frame["severity"].isin(severities)
    if alert_types := list(alert_types):
        mask &= frame["alert_type"].isin(alert_types)
    if symbols := list(symbols):
        keys = pd.Series(
            [record_key(e, s) for e, s in zip(frame["exchange"], frame["symbol"], strict=True)],
            index=frame.index,
            dtype=object,
        )
        mask &= keys.isin(symbols) | frame["symbol"].isin(symbols)
    if start_ms is not None:
        mask &= frame["event_time_ms"] >= start_ms
    if end_ms is not None:
        mask &= frame["event_time_ms"] < end_ms
    return frame[mask].reset_index(drop=True)


def page_count(total: int, page_size: int) -> int:
    """At least one page, so the pagination widget always has something to show."""
    return max(1, math.ceil(total / page_size))


def paginate(frame: pd.DataFrame, page: int, page_size: int) -> pd.DataFrame:
    """Rows of 1-indexed `page`; a page past the end is clamped to the last one."""
    page = min(max(1, page), page_count(len(frame), page_size))
    start = (page - 1) * page_size
    return frame.iloc[start : start + page_size].reset_index(drop=True)


def rule_label(rule_id: Any, name: Any, version: Any) -> str:
    """Which user rule raised an alert: `7 "wide ETH" v2`; empty for a built-in alert."""
    if is_missing(rule_id):
        return ""
    label = f"{int(rule_id)}"
    if not is_missing(name):
        label += f' "{name}"'
    return label + (f" v{int(version)}" if not is_missing(version) else "")


def alert_feed_table(frame: pd.DataFrame, now_ms: int) -> pd.DataFrame:
    """The columns a reader scans: when, what, how bad, where, the message, and why (the value
    against the symbol's baseline, the book at that moment; empty for alerts without a context)."""
    contexts = [context_of(c) for c in frame["context"]]
    return pd.DataFrame(
        {
            "When": [time_ago(ms, now_ms) for ms in frame["event_time_ms"]],
            "Time (UTC)": frame["time"].dt.strftime("%H:%M:%S"),
            "Severity": frame["severity"],
            "Type": frame["alert_type"],
            "Rule": [
                rule_label(*r)
                for r in zip(frame["rule_id"], frame["rule_name"], frame["rule_version"], strict=True)
            ],
            "Symbol": frame["symbol"],
            "Value": frame["metric_value"].astype("float64"),
            "Threshold": frame["threshold"].astype("float64"),
            "Message": frame["message"],
            "Why": [why_line(t, c) for t, c in zip(frame["alert_type"], contexts, strict=True)],
            "Book": [book_line(c) for c in contexts],
        }
    )


def bars_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Bars (from the Redis ZSET or the table) indexed by window start, oldest first."""
    frame = pd.DataFrame(list(records))
    if frame.empty:
        return pd.DataFrame(columns=["mid_open", "mid_high", "mid_low", "mid_close"]).rename_axis("time")
    starts = frame["window_start"].map(to_epoch_ms)
    frame.index = pd.DatetimeIndex(pd.to_datetime(starts, unit="ms", utc=True), name="time")
    return frame.drop(columns=["window_start", "window_end", "schema_version"], errors="ignore").sort_index()


def resample_bars(frame: pd.DataFrame, bucket_s: int) -> pd.DataFrame:
    """Coarser bars from finer ones: OHLC of mid, mean/min/max of imbalance, summed OFI."""
    if frame.empty:
        return frame
    rules = {
        "mid_open": "first",
        "mid_high": "max",
        "mid_low": "min",
        "mid_close": "last",
        "imbalance_mean": "mean",
        "imbalance_min": "min",
        "imbalance_max": "max",
        "spread_bps_mean": "mean",
        "spread_bps_max": "max",
        "ofi_sum": "sum",
        "update_count": "sum",
        "microprice_last": "last",
    }
    present = {col: how for col, how in rules.items() if col in frame.columns}
    out = frame[list(present)].resample(f"{bucket_s}s").agg(present)
    return out.dropna(subset=["mid_close"]) if "mid_close" in out else out


@dataclass(frozen=True)
class Card:
    """One st.metric. `delta` is a change (arrow, coloured by sign) unless `note` is set: then it
    is a remark shown plainly under the value (no arrow, no colour)."""

    label: str
    value: str
    delta: str | None
    help: str
    note: bool = False


def _lookback_row(bars: pd.DataFrame, now_ms: int, lookback_s: int) -> pd.Series | None:
    if bars.empty:
        return None
    cutoff = pd.Timestamp(now_ms - lookback_s * 1000, unit="ms", tz="UTC")
    older = bars[bars.index <= cutoff]
    return older.iloc[-1] if not older.empty else None


def _delta(now: Any, then: Any, fmt: str) -> str | None:
    if now is None or then is None or pd.isna(now) or pd.isna(then):
        return None
    return format(float(now) - float(then), fmt)


def metric_cards(
    latest: Mapping[str, Any] | None,
    bars: pd.DataFrame,
    now_ms: int,
    columns: MetricColumns,
    symbol: str,
    lookback_s: int = 60,
    level: int | None = None,
) -> list[Card]:
    """The cards above the charts, each with its change over `lookback_s` (from the 1 s bars).
    The imbalance is the top-N the symbol's alerts watch; its change is given only when the bars
    summarise that same N (the bars job's level), never against another level's mean. `level`
    picks another top-N than the alerts' one."""
    record = latest or {}
    then = _lookback_row(bars, now_ms, lookback_s)
    get = (lambda name: then.get(name)) if then is not None else (lambda name: None)
    mid = record.get("mid")
    imbalance_level = level or columns.imbalance_level(symbol)
    imbalance = record.get(imbalance_column(imbalance_level))
    same_level = imbalance_level == columns.bars_imbalance_level
    then_imbalance = get("imbalance_mean") if same_level else None
    lean = record.get("microprice_lean_bps")
    then_mid, then_micro = get("mid_close"), get("microprice_last")
    then_lean = None
    if then_mid and then_micro is not None and not pd.isna(then_micro):
        then_lean = (float(then_micro) - float(then_mid)) / float(then_mid) * 10_000
    recent_ofi = None
    if not bars.empty and "ofi_sum" in bars:
        cutoff = pd.Timestamp(now_ms - lookback_s * 1000, unit="ms", tz="UTC")
        recent_ofi = float(bars.loc[bars.index > cutoff, "ofi_sum"].fillna(0).sum())
    event_ms = record.get("event_time")
    ago = f"vs {lookback_s} s ago"
    helps = {
        name: metric_help(name, columns.metrics, level=imbalance_level).help
        for name in ("mid", "imbalance", "spread_bps", "microprice_lean_bps")
    }
    return [
        Card("Mid", format_price(mid), _delta(mid, then_mid, "+,.4g"), f"{helps['mid']}; {ago}"),
        Card(
            f"Imbalance top-{imbalance_level}",
            format_signed(imbalance),
            _delta(imbalance, then_imbalance, "+.3f"),
            f"{helps['imbalance']}; "
            + (
                f"{ago} (1 s mean)"
                if same_level
                else f"no change shown: the bars hold top-{columns.bars_imbalance_level}"
            ),
        ),
        Card(
            "Spread bps",
            format_signed(record.get("spread_bps"), 2).lstrip("+"),
            _delta(record.get("spread_bps"), get("spread_bps_mean"), "+.2f"),
            f"{helps['spread_bps']}; {ago} (1 s mean)",
        ),
        Card(
            "Microprice lean bps",
            format_signed(lean, 2),
            _delta(lean, then_lean, "+.2f"),
            f"{helps['microprice_lean_bps']}; {ago}",
        ),
        Card(
            f"OFI last {lookback_s} s",
            format_signed(recent_ofi, 2),
            None,
            "order flow imbalance at the best levels (ofi_1: + = buying pressure), summed over the "
            f"1 s bars of the last {lookback_s} s",
        ),
        Card(
            "Data age",
            format_age((now_ms - event_ms) / 1000.0 if event_ms is not None else None),
            None,
            "now - exchange event time of the latest update; 'expired' = no update within the TTL",
        ),
    ]
