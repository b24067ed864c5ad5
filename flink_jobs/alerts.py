"""The alerts job's logic: `orderbook.processed` Table -> `orderbook.alerts` Table.

Every rule (docs/metrics.md, Alerts), the episodes, the cooldown and the alert of each update are
one keyed operator: the Java process table function AlertFunction (flink_jobs/java), called here
with event time and the rules as data (JSON from AlertSettings, per symbol), partitioned by
exchange, market and symbol. SQL around it picks each symbol's imbalance column before it and
writes the alert id and message after it. Until 2026-12 the job was two OVER stages, a
MATCH_RECOGNIZE per rule and a keyed Python cooldown, about 2k updates/s per slot
(docs/benchmarks.md, alerts job)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from pyflink.table import Table

from config import AlertSettings, MetricsJobSettings
from flink_jobs.connectors import KEY_COLUMN, ROWTIME, schema_columns
from flink_jobs.sql_building import query, table_env
from schemas import Topic

ALERT_FUNCTION = "obm_alerts"
ALERT_CLASS = "io.orderbookmonitor.flink.AlertFunction"
# The function's state name in savepoints: a savepoint of the SQL job (OVER windows, patterns,
# Python cooldown) has none of it, so the job resumes with --allowNonRestoredState and empty state
# (flink_jobs/lifecycle.py); change it with the layout of AlertDetector's state.
ALERT_UID = "obm-alerts-1"
# The alert types, as AlertDetector.TYPES names them (the `off` list of the rules).
ALERT_TYPES = ("imbalance_extreme", "imbalance_flip", "spread_widening", "velocity_spike")
# Settings the Java rules read (AlertRules.FIELDS), each a number per symbol.
RULE_FIELDS = (
    "imbalance_level", "imbalance_medium", "imbalance_high", "imbalance_clear", "imbalance_high_clear",
    "imbalance_min_duration_ms", "flip_threshold", "flip_window_ms", "spread_widening_k",
    "spread_min_duration_ms", "velocity_threshold", "cooldown_ms",
)  # fmt: skip


def symbol_settings(settings: AlertSettings) -> dict[str, dict[str, float]]:
    """Resolved settings of every symbol with overrides, plus '' for all the others."""
    resolved = {"": settings.for_symbol("")}
    for symbol in settings.overrides:
        resolved[symbol.upper()] = settings.for_symbol(symbol)
    return resolved


def check_alert_settings(settings: AlertSettings, metrics: MetricsJobSettings | None = None) -> None:
    """Refuse settings that cannot describe an alert, per symbol, at plan time. The imbalance
    followed must be one the metrics job publishes (MetricsJobSettings.imbalance_levels)."""
    levels = (metrics or MetricsJobSettings()).imbalance_levels
    for symbol, over in settings.overrides.items():
        unknown = set(over) - set(RULE_FIELDS)
        if unknown:
            raise ValueError(f"unknown alert settings in the override of {symbol}: {sorted(unknown)}")
    for symbol, s in symbol_settings(settings).items():
        where = f" (override of {symbol})" if symbol else ""
        if s["imbalance_level"] not in levels or s["imbalance_level"] != int(s["imbalance_level"]):
            raise ValueError(f"imbalance_level must be one of the published imbalance levels {levels}{where}")
        if not 0 <= s["imbalance_clear"] < s["imbalance_medium"] <= s["imbalance_high"] <= 1:
            raise ValueError(f"need 0 <= imbalance_clear < imbalance_medium <= imbalance_high <= 1{where}")
        if not s["imbalance_medium"] <= s["imbalance_high_clear"] < s["imbalance_high"]:
            raise ValueError(f"need imbalance_medium <= imbalance_high_clear < imbalance_high{where}")
        if not 0 < s["flip_threshold"] <= 1:
            raise ValueError(f"flip_threshold must be in (0, 1]{where}")
        if s["spread_widening_k"] <= 1:
            raise ValueError(f"spread_widening_k must exceed 1 (the mean includes the current spread){where}")
        if s["velocity_threshold"] <= 0:
            raise ValueError(f"velocity_threshold must be positive{where}")
        if min(s["imbalance_min_duration_ms"], s["spread_min_duration_ms"], s["flip_window_ms"]) <= 0:
            raise ValueError(f"durations and the flip window must be positive{where}")
        if s["cooldown_ms"] < 0:
            raise ValueError(f"cooldown_ms cannot be negative{where}")


def rules_json(settings: AlertSettings, off: Iterable[str] = ()) -> str:
    """The rules argument of AlertFunction (AlertRules): every symbol's resolved settings, and the
    alert types switched off (`off`: the bench's per-rule cost)."""
    off = sorted(off)
    unknown = set(off) - set(ALERT_TYPES)
    if unknown:
        raise ValueError(f"unknown alert types {sorted(unknown)}; known: {ALERT_TYPES}")

    def rules(s: dict[str, float]) -> dict[str, object]:
        return {**{f: s[f] for f in RULE_FIELDS}, "off": off}

    resolved = symbol_settings(settings)
    return json.dumps(
        {
            "default": rules(resolved.pop("")),
            "symbols": {symbol: rules(s) for symbol, s in resolved.items()},
        },
        sort_keys=True,
    )


def _per_symbol(settings: AlertSettings, field: str, render: Callable[[float], str]) -> str:
    """The SQL value of one setting: a literal, or a CASE on the symbol when overrides differ."""
    resolved = symbol_settings(settings)
    default = render(resolved[""][field])
    branches = [
        f"WHEN '{symbol}' THEN {render(values[field])}"
        for symbol, values in resolved.items()
        if symbol and values[field] != resolved[""][field]
    ]
    return f"CASE `symbol` {' '.join(branches)} ELSE {default} END" if branches else default


def _string_literal(text: str) -> str:
    """A SQL string literal of `text`, its braces doubled for query()'s format."""
    literal = "'" + text.replace("'", "''") + "'"
    return literal.replace("{", "{{").replace("}", "}}")


def alerts_table(
    processed: Table,
    settings: AlertSettings,
    metrics: MetricsJobSettings | None = None,
    *,
    off: Iterable[str] = (),
) -> Table:
    """Alerts from processed records (columns of orderbook.processed plus the `rt` time
    attribute): every column of orderbook.alerts and the Kafka key `record_key`."""
    check_alert_settings(settings, metrics)
    table_env(processed).execute_sql(
        f"CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS {ALERT_FUNCTION} AS '{ALERT_CLASS}' LANGUAGE JAVA"
    )
    imbalance = _per_symbol(settings, "imbalance_level", lambda n: f"`imbalance_{int(n)}`")
    inputs = query(
        processed,
        "SELECT `exchange`, `market`, `symbol`, `event_time`, `"
        + ROWTIME
        + f"`, COALESCE({imbalance}, CAST(0 AS DOUBLE)) AS imb, `imbalance_velocity`, `spread_bps`,"
        " `spread_bps_mean` FROM {src}",
    )
    raised = query(
        inputs,
        f"""
        SELECT * FROM {ALERT_FUNCTION}(
          input => TABLE {{src}} PARTITION BY (`exchange`, `market`, `symbol`),
          on_time => DESCRIPTOR(`{ROWTIME}`),
          rules => {_string_literal(rules_json(settings, off))},
          uid => '{ALERT_UID}'
        )
        """,
    )
    derived = {
        "schema_version": "1",
        "alert_id": "`alert_type` || ':' || `exchange` || ':' || `symbol` || ':'"
        " || CAST(`window_start` AS STRING) || ':' || `severity`",
        "message": "`symbol` || ' ' || `text`",
        # which user rule fired (flink_jobs/user_rules.py): none on a built-in alert
        **{n: f"CAST(NULL AS {t})" for n, t in schema_columns(Topic.ALERTS) if n.startswith("rule_")},
    }
    select = [f"`exchange` || ':' || `symbol` AS `{KEY_COLUMN}`"]
    for name, _ in schema_columns(Topic.ALERTS):
        select.append(f"{derived[name]} AS `{name}`" if name in derived else f"`{name}`")
    return query(raised, "SELECT " + ", ".join(select) + " FROM {src}")
