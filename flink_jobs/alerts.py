"""The alerts job's logic: `orderbook.processed` Table -> `orderbook.alerts` Table.

Detection is Flink SQL (OVER windows for hysteresis state, MATCH_RECOGNIZE for the confirmed
episodes and flips: alert_patterns.py); the cooldown between alerts of one type and symbol is a
small keyed Python function on the candidate stream (alert_cooldown.py explains why). The input
Table must belong to a StreamTableEnvironment, since the cooldown runs on a DataStream."""

from __future__ import annotations

from pyflink.common.typeinfo import Types
from pyflink.table import StreamTableEnvironment, Table

from config import AlertSettings
from flink_jobs.alert_cooldown import ALERT_ROW_TYPE, CooldownFunction, candidate_key
from flink_jobs.alert_patterns import candidates_table
from flink_jobs.sql_building import table_env

# Stable operator ids, so a savepoint of the cooldown state restores after a redeploy.
COOLDOWN_UID = "obm-alerts-cooldown"


def alerts_table(processed: Table, settings: AlertSettings) -> Table:
    """Alerts from processed records (columns of orderbook.processed plus the `rt` time
    attribute): every column of orderbook.alerts and the Kafka key `record_key`."""
    t_env = table_env(processed)
    if not isinstance(t_env, StreamTableEnvironment):
        raise TypeError(
            "the alerts job needs a StreamTableEnvironment (see environment.stream_table_environment)"
        )
    candidates = t_env.to_data_stream(candidates_table(processed, settings))
    alerts = (
        candidates.key_by(candidate_key, key_type=Types.STRING())
        .process(CooldownFunction(), output_type=ALERT_ROW_TYPE)
        .name("alert cooldown")
        .uid(COOLDOWN_UID)
    )
    return t_env.from_data_stream(alerts)
