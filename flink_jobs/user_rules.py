"""The `rules` job's logic: `orderbook.processed` Table -> `orderbook.alerts` Table, the alerts of
the user rules (rules/, issue 15).

Every live rule that covers a book is evaluated on each of its records by one keyed Java
operator, the process table function RuleFunction (flink_jobs/java), partitioned by exchange,
market and symbol like the CEP alerts. The rules are not an argument fixed at submission: the
function follows the compacted `rules.changes` topic (RuleBook, one reader per TaskManager), so a
rule added, edited, disabled or deleted through the store (rules/store.py) applies within about a
second, without a redeploy. Why not broadcast state: a process table function takes several tables
only when they are co-partitioned (Flink 2.1+, FLINK-37763), so no rules table could reach every
partition; the topic is the rules' durable copy and is read again from its start after a restart.

An alert names the rule that fired: alert_type `user_rule`, the id `rule:<rule id>:<exchange>:
<symbol>:<episode start>:<severity>` and the message `<symbol> rule <id> "<name>": ...`."""

from __future__ import annotations

from pyflink.table import Table

from config import KafkaSettings
from flink_jobs.connectors import KEY_COLUMN, schema_columns
from flink_jobs.sql_building import query, table_env
from schemas import Topic, topic_name

RULE_FUNCTION = "obm_user_rules"
RULE_CLASS = "io.orderbookmonitor.flink.RuleFunction"
# The function's state name in savepoints; change it with the layout of RuleEvaluator's state.
RULE_UID = "obm-user-rules-1"
RULE_ALERT_TYPE = "user_rule"
RULE_ID_PREFIX = "rule:"


def kafka_rules_source(kafka: KafkaSettings) -> str:
    """The function's `rules` argument for the live rules: the compacted topic on this broker."""
    return f"kafka|{kafka.bootstrap_servers}|{topic_name(Topic.RULES, kafka.topic_prefix)}"


def rule_id_of(alert_id: str) -> int | None:
    """The rule that raised an alert, from its id; None for a CEP alert."""
    if not alert_id.startswith(RULE_ID_PREFIX):
        return None
    return int(alert_id[len(RULE_ID_PREFIX) :].split(":", 1)[0])


def _string_literal(text: str) -> str:
    """A SQL string literal of `text`, its braces doubled for query()'s format."""
    literal = "'" + text.replace("'", "''") + "'"
    return literal.replace("{", "{{").replace("}", "}}")


def user_rules_table(processed: Table, rules_source: str) -> Table:
    """Alerts of the user rules from processed records (columns of orderbook.processed plus the
    `rt` time attribute): every column of orderbook.alerts and the Kafka key `record_key`.
    `rules_source`: kafka_rules_source(...) for the live rules, or a JSON array of rule records
    (schemas/rules.changes) for fixed rules (bounded tests, the bench)."""
    table_env(processed).execute_sql(
        f"CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS {RULE_FUNCTION} AS '{RULE_CLASS}' LANGUAGE JAVA"
    )
    # No on_time and no time attribute into the function: Flink 2.2 drops rows at or behind the
    # watermark before a process table function with on_time sees them (FLINK-39436 lifts that
    # later); the rules take every record in arrival order, late or not.
    columns = ", ".join(f"`{name}`" for name, _ in schema_columns(Topic.PROCESSED))
    inputs = query(processed, f"SELECT {columns} FROM {{src}}")
    raised = query(
        inputs,
        f"""
        SELECT * FROM {RULE_FUNCTION}(
          input => TABLE {{src}} PARTITION BY (`exchange`, `market`, `symbol`),
          rules => {_string_literal(rules_source)},
          uid => '{RULE_UID}'
        )
        """,
    )
    derived = {
        "schema_version": "1",
        "alert_id": f"'{RULE_ID_PREFIX}' || CAST(`rule_id` AS STRING) || ':' || `exchange` || ':' || `symbol`"
        " || ':' || CAST(`window_start` AS STRING) || ':' || `severity`",
        "alert_type": f"'{RULE_ALERT_TYPE}'",
        "event_time": "`window_end`",
        "message": "`symbol` || ' ' || `text`",
    }
    select = [f"`exchange` || ':' || `symbol` AS `{KEY_COLUMN}`"]
    for name, _ in schema_columns(Topic.ALERTS):
        select.append(f"{derived[name]} AS `{name}`" if name in derived else f"`{name}`")
    return query(raised, "SELECT " + ", ".join(select) + " FROM {src}")
