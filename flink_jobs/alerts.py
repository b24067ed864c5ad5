"""The alerts job's logic: `orderbook.processed` Table -> `orderbook.alerts` Table.

Every rule (docs/metrics.md, Alerts; docs/alerts.md), the episodes, the cooldown and the alert of
each update are one keyed operator: the Java process table function AlertFunction
(flink_jobs/java), called here with event time and the rules as data (JSON of each symbol's rule
profile, flink_jobs/alert_profiles.py, from AlertSettings: the profile seed or adaptive, its
overrides, the enabled alert types), partitioned by exchange, market and symbol. It implements
both profiles exactly as the Python rules engine flink_jobs/alert_rules.py does (the differential
test compares them), and writes each alert's context (the book, and for the adaptive profile the
baselines) into the `context` field. SQL around it picks each symbol's imbalance column before it
and writes the alert id and message after it. Until 2026-12 the job was two OVER stages, a
MATCH_RECOGNIZE per rule and a keyed Python cooldown, about 2k updates/s per slot
(docs/benchmarks.md, alerts job)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

from pyflink.table import Table

from config import AlertSettings, MetricsJobSettings
from flink_jobs.alert_profiles import RULES, RuleProfile, profile_for
from flink_jobs.alert_rules import BOOK_FIELDS
from flink_jobs.connectors import KEY_COLUMN, ROWTIME, schema_columns
from flink_jobs.sql_building import query, table_env
from schemas import Topic

ALERT_FUNCTION = "obm_alerts"
ALERT_CLASS = "io.orderbookmonitor.flink.AlertFunction"
# The function's state name in savepoints, followed by the profile (`-seed`, `-adaptive`): a
# savepoint of another layout or profile has none of it, so the job resumes with
# --allowNonRestoredState and empty state (flink_jobs/lifecycle.py); change it with the layout of
# AlertDetector's state.
ALERT_UID = "obm-alerts-3"
# The alert types, as AlertDetector.TYPES names them (the `off` list of the rules).
ALERT_TYPES = RULES
# Numbers of a profile the Java rules read (AlertRules.FIELDS), per symbol; besides them "profile",
# "flip_severity" and "off" (the alert types switched off).
RULE_FIELDS = (
    "imbalance_level", "imbalance_medium", "imbalance_high", "imbalance_clear", "imbalance_high_clear",
    "imbalance_min_duration_ms", "flip_threshold", "flip_window_ms", "spread_widening_k",
    "spread_min_duration_ms", "velocity_threshold", "cooldown_ms", "baseline_tau_ms", "warmup_ms",
    "min_depth_notional", "imbalance_sd_floor", "spread_sd_floor_frac", "velocity_rms_floor",
    "escalate_factor",
)  # fmt: skip
# The seed settings AlertSettings.overrides may change.
SEED_FIELDS = RULE_FIELDS[:12]
# The processed columns an alert's context shows of the book (the function's input columns too).
BOOK_COLUMNS = BOOK_FIELDS


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
        unknown = set(over) - set(SEED_FIELDS)
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
    for symbol in symbol_profiles(settings):  # the profile in force (check_profile refuses)
        profile_for(symbol, settings)


def symbol_profiles(settings: AlertSettings) -> dict[str, RuleProfile]:
    """The rules in force (settings.profile) of every symbol with overrides of that profile
    (upper case), and '' for all the others."""
    if settings.profile == "seed":
        named = list(settings.overrides)
    else:
        named = [s for s in settings.adaptive_overrides if s != "*"]
    return {symbol.upper(): profile_for(symbol, settings) for symbol in ["", *named]}


def rules_json(settings: AlertSettings, off: Iterable[str] = ()) -> str:
    """The rules argument of AlertFunction (AlertRules): every symbol's profile in force, and the
    alert types switched off (those its profile does not enable, and `off`: the bench's per-rule
    cost)."""
    off = set(off)
    unknown = off - set(ALERT_TYPES)
    if unknown:
        raise ValueError(f"unknown alert types {sorted(unknown)}; known: {ALERT_TYPES}")

    def rules(p: RuleProfile) -> dict[str, object]:
        values = p.as_dict()
        out: dict[str, object] = {f: values[f] for f in RULE_FIELDS}
        if not math.isfinite(p.escalate_factor):
            out["escalate_factor"] = None  # never: JSON has no infinity
        disabled = sorted(off | (set(ALERT_TYPES) - set(p.rules)))
        return out | {"profile": p.name, "flip_severity": p.flip_severity, "off": disabled}

    resolved = symbol_profiles(settings)
    return json.dumps(
        {
            "default": rules(resolved.pop("")),
            "symbols": {symbol: rules(p) for symbol, p in resolved.items()},
        },
        sort_keys=True,
    )


def _imbalance_column(settings: AlertSettings) -> str:
    """The SQL of the followed imbalance: its column, or a CASE on the symbol when the profiles'
    imbalance_level differs between symbols."""
    resolved = symbol_profiles(settings)
    default = resolved[""].imbalance_level
    branches = [
        f"WHEN '{symbol}' THEN `imbalance_{p.imbalance_level}`"
        for symbol, p in resolved.items()
        if symbol and p.imbalance_level != default
    ]
    column = f"`imbalance_{default}`"
    return f"CASE `symbol` {' '.join(branches)} ELSE {column} END" if branches else column


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
    book = ", ".join(f"`{c}`" for c in BOOK_COLUMNS)
    inputs = query(
        processed,
        f"SELECT `exchange`, `market`, `symbol`, `event_time`, `{ROWTIME}`, {_imbalance_column(settings)}"
        f" AS imb, `imbalance_velocity`, `spread_bps_mean`, {book} FROM {{src}}",
    )
    raised = query(
        inputs,
        f"""
        SELECT * FROM {ALERT_FUNCTION}(
          input => TABLE {{src}} PARTITION BY (`exchange`, `market`, `symbol`),
          on_time => DESCRIPTOR(`{ROWTIME}`),
          rules => {_string_literal(rules_json(settings, off))},
          uid => '{ALERT_UID}-{settings.profile}'
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
    produced = set(raised.get_schema().get_field_names())
    select = [f"`exchange` || ':' || `symbol` AS `{KEY_COLUMN}`"]
    for name, sql_type in schema_columns(Topic.ALERTS):
        if name in derived:
            select.append(f"{derived[name]} AS `{name}`")
        elif name in produced:
            select.append(f"`{name}`")
        else:  # a field of other alerts (a user rule's rule_id, ...): none on the built-in ones
            select.append(f"CAST(NULL AS {sql_type}) AS `{name}`")
    return query(raised, "SELECT " + ", ".join(select) + " FROM {src}")
