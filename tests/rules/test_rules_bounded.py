"""The rules job's logic (RuleFunction, fixed rules) on bounded walks equals the Python reference
of the rules (tests/rules/reference_rules.py), alert for alert, and every alert is a valid
orderbook.alerts record that names its rule."""

from __future__ import annotations

import json
import uuid

import pytest

from flink_jobs.user_rules import RULE_ALERT_TYPE, rule_id_of, user_rules_table
from schemas import Topic, validator_for
from tests.flink.conftest import run_bounded_in
from tests.rules.reference_rules import as_expected, reference_rule_alerts
from tests.rules.rule_walks import RULES, walk

pytestmark = pytest.mark.integration


def test_rules_job_equals_the_reference_on_walks(local_table_env, tmp_path):
    records = walk(3000, seed=7)
    expected = reference_rule_alerts(records, RULES)
    fired = {e[0] for e in expected}
    assert fired == {1, 2, 3, 4}, f"the walk must make every live rule fire: {fired}"
    rows = run_bounded_in(
        local_table_env, tmp_path / uuid.uuid4().hex[:8], Topic.PROCESSED, records,
        lambda t: user_rules_table(t, json.dumps(RULES)),
    )  # fmt: skip
    validate = validator_for(Topic.ALERTS)
    got = []
    for row in rows:
        assert row.pop("record_key") == f"{row['exchange']}:{row['symbol']}"
        validate(row)
        assert row["alert_type"] == RULE_ALERT_TYPE and row["event_time"] == row["window_end"]
        rule_id = rule_id_of(row["alert_id"])
        assert rule_id is not None and f'rule {rule_id} "rule {rule_id}"' in row["message"]
        got.append(as_expected(row, rule_id))
    assert sorted(got) == expected
    assert len({r["alert_id"] for r in rows}) == len(rows)
