"""The rules jobs' logic: a source topic's Table -> `orderbook.alerts` Table, the alerts of the user
rules (rules/, issue 15) on that source. One job per source topic (flink_jobs/registry.py: `rules`
on orderbook.processed, `rules_bars` on orderbook.bars, `rules_trade_bars` on trades.bars,
`rules_pairs` on pairs.analytics); each evaluates only the rules whose source is its topic (for
the bars, topic and interval: rules/catalogue.py).

Every live rule that covers a key is evaluated on each of its records by one keyed Java operator,
the process table function RuleFunction (flink_jobs/java), partitioned by exchange, market and
symbol (and interval for the bars, the pair for pair analytics). The rules are not an argument
fixed at submission: the function follows the compacted `rules.changes` topic (RuleBook, one
reader per TaskManager), so a rule added, edited, disabled or deleted through the store
(rules/store.py) applies within about a second, without a redeploy. Why not broadcast state: a
process table function takes several tables only when they are co-partitioned (Flink 2.1+,
FLINK-37763), so no rules table could reach every partition; the topic is the rules' durable copy
and is read again from its start after a restart.

An alert says which rule fired: alert_type `user_rule`, the fields rule_id, rule_name and
rule_version, the id `rule:<rule id>:<exchange>:<symbol>:<episode start>:<severity>` (a pair's:
`rule:<rule id>:<y/x>:...`) and the message `<subject> rule <id> "<name>": ...`. A pair alert's
exchange and symbol are its y leg's, its market `pair`."""

from __future__ import annotations

from pyflink.table import Table

from config import KafkaSettings
from flink_jobs.connectors import KEY_COLUMN, schema_columns
from flink_jobs.sql_building import query, table_env
from schemas import Topic, topic_name

RULE_FUNCTION = "obm_user_rules"
RULE_CLASS = "io.orderbookmonitor.flink.RuleFunction"
# The function's state name in savepoints, per source topic; change it with the layout of
# RuleEvaluator's state. The books' name is the one of the job before sources existed.
RULE_UID = "obm-user-rules-1"
RULE_ALERT_TYPE = "user_rule"
RULE_ID_PREFIX = "rule:"
# An alert of a rule on pair analytics: its market (exchange and symbol are the y leg's).
PAIR_MARKET = "pair"
# The topics a rules job reads, each partitioned by these columns (the function's keys).
RULE_PARTITIONS: dict[Topic, tuple[str, ...]] = {
    Topic.PROCESSED: ("exchange", "market", "symbol"),
    Topic.BARS: ("exchange", "market", "symbol", "interval"),
    Topic.TRADE_BARS: ("exchange", "market", "symbol", "interval"),
    Topic.PAIRS: ("pair",),
}


def rule_uid(topic: Topic) -> str:
    if topic is Topic.PROCESSED:
        return RULE_UID
    return f"obm-user-rules-{topic.value.replace('.', '-')}-1"


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


def _alert_columns(topic: Topic) -> dict[str, str]:
    """SQL of the alert's columns that are not the function's own, per source kind."""
    start = "CAST(`window_start` AS STRING) || ':' || `severity`"
    if topic is Topic.PAIRS:
        y = "SPLIT_INDEX(`pair`, '/', 0)"
        return {
            "exchange": f"SPLIT_INDEX({y}, ':', 0)",
            "market": f"'{PAIR_MARKET}'",
            "symbol": f"SPLIT_INDEX({y}, ':', 1)",
            "alert_id": f"'{RULE_ID_PREFIX}' || CAST(`rule_id` AS STRING) || ':' || `pair` || ':' || {start}",
            "message": "`pair` || ' ' || `text`",
            KEY_COLUMN: f"{y}",
        }
    subject = "`symbol` || ' ' || `interval`" if "interval" in RULE_PARTITIONS[topic] else "`symbol`"
    return {
        "alert_id": f"'{RULE_ID_PREFIX}' || CAST(`rule_id` AS STRING) || ':' || `exchange` || ':' || `symbol`"
        f" || ':' || {start}",
        "message": f"{subject} || ' ' || `text`",
        KEY_COLUMN: "`exchange` || ':' || `symbol`",
    }


def user_rules_table(source: Table, rules_source: str, topic: Topic = Topic.PROCESSED) -> Table:
    """Alerts of the user rules on `topic` from its records (the topic's columns plus the `rt` time
    attribute): every column of orderbook.alerts and the Kafka key `record_key`.
    `rules_source`: kafka_rules_source(...) for the live rules, or a JSON array of rule records
    (schemas/rules.changes) for fixed rules (bounded tests, the bench)."""
    if topic not in RULE_PARTITIONS:
        raise ValueError(f"no rules on {topic.value}; sources: {', '.join(t.value for t in RULE_PARTITIONS)}")
    table_env(source).execute_sql(
        f"CREATE TEMPORARY SYSTEM FUNCTION IF NOT EXISTS {RULE_FUNCTION} AS '{RULE_CLASS}' LANGUAGE JAVA"
    )
    # No on_time and no time attribute into the function: Flink 2.2 drops rows at or behind the
    # watermark before a process table function with on_time sees them (FLINK-39436 lifts that
    # later); the rules take every record in arrival order, late or not.
    columns = ", ".join(f"`{name}`" for name, _ in schema_columns(topic))
    inputs = query(source, f"SELECT {columns} FROM {{src}}")
    partition = ", ".join(f"`{c}`" for c in RULE_PARTITIONS[topic])
    raised = query(
        inputs,
        f"""
        SELECT * FROM {RULE_FUNCTION}(
          input => TABLE {{src}} PARTITION BY ({partition}),
          rules => {_string_literal(rules_source)},
          source_topic => '{topic.value}',
          uid => '{rule_uid(topic)}'
        )
        """,
    )
    produced = set(raised.get_schema().get_field_names())
    derived = {
        "schema_version": "1",
        "alert_type": f"'{RULE_ALERT_TYPE}'",
        "event_time": "`window_end`",
        **_alert_columns(topic),
    }
    select = [f"{derived.pop(KEY_COLUMN)} AS `{KEY_COLUMN}`"]
    for name, sql_type in schema_columns(Topic.ALERTS):
        if name in derived:
            select.append(f"{derived[name]} AS `{name}`")
        elif name in produced:
            select.append(f"`{name}`")
        else:  # a field no user rule fills (a CEP alert's context)
            select.append(f"CAST(NULL AS {sql_type}) AS `{name}`")
    return query(raised, "SELECT " + ", ".join(select) + " FROM {src}")
