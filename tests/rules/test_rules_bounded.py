"""The rules jobs' logic (RuleFunction, fixed rules) on bounded walks of each source kind (the
books, the trade bars of two intervals, the pair analytics) equals the Python reference of the
rules (tests/rules/reference_rules.py), alert for alert, and every alert is a valid
orderbook.alerts record that names its rule (rule_id, rule_name, rule_version)."""

from __future__ import annotations

import json
import uuid

import pytest

from flink_jobs.user_rules import PAIR_MARKET, RULE_ALERT_TYPE, rule_id_of, user_rules_table
from schemas import Topic, validator_for
from tests.flink.conftest import run_bounded_in
from tests.rules.reference_rules import as_expected, reference_rule_alerts
from tests.rules.rule_walks import RULES, SOURCE_RULES, book_bars_walk, pairs_walk, trade_bars_walk, walk

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
        assert (row["rule_id"], row["rule_name"], row["rule_version"]) == (rule_id, f"rule {rule_id}", 1)
        got.append(as_expected(row, rule_id))
    assert sorted(got) == expected
    assert len({r["alert_id"] for r in rows}) == len(rows)


@pytest.mark.parametrize(
    ("topic", "records", "fire"),
    [(Topic.BARS, lambda: book_bars_walk(600, seed=3), {18, 19}),
     (Topic.TRADE_BARS, lambda: trade_bars_walk(600, seed=9), {11, 12, 13}),
     (Topic.PAIRS, lambda: pairs_walk(300, seed=4), {15, 16})],
    ids=["orderbook.bars", "trades.bars", "pairs.analytics"],
)  # fmt: skip
def test_rules_on_bars_and_pairs_equal_the_reference(local_table_env, tmp_path, topic, records, fire):
    """Each source's rules fire on its records only (the 5 m rule has no 5 m bars, the books rule
    no books), decimal texts are values, a pair rule's scope matches the pair."""
    records = records()
    expected = reference_rule_alerts(records, SOURCE_RULES, topic.value)
    assert {e[0] for e in expected} == fire, "the walk must make each rule of the source fire"
    rows = run_bounded_in(
        local_table_env, tmp_path / uuid.uuid4().hex[:8], topic, records,
        lambda t: user_rules_table(t, json.dumps(SOURCE_RULES), topic),
    )  # fmt: skip
    validate = validator_for(Topic.ALERTS)
    got = []
    for row in rows:
        key = row.pop("record_key")
        validate(row)
        rule_id = rule_id_of(row["alert_id"])
        assert rule_id is not None and (row["rule_id"], row["rule_version"]) == (rule_id, 1)
        if topic is Topic.PAIRS:
            pair = next(
                r["pair"] for r in records if r["pair"].startswith(f"{row['exchange']}:{row['symbol']}/")
            )
            assert row["market"] == PAIR_MARKET and key == pair.split("/")[0]
            assert row["message"].startswith(f'{pair} rule {rule_id} "rule {rule_id}": ')
            assert row["alert_id"].startswith(f"rule:{rule_id}:{pair}:")
        else:
            assert key == f"{row['exchange']}:{row['symbol']}" and row["market"] == records[0]["market"]
            assert row["message"].startswith(f"{row['symbol']} 1")  # the interval after the symbol
        got.append(as_expected(row, rule_id))
    assert sorted(got) == expected
