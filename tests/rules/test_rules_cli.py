"""`obm rules` against the session's PostgreSQL and Kafka: a refused rule exits 1 with each field's
problem, a stored one is listed, edited, disabled, deleted, and the history says who did what."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from obm.cli import main
from schemas import Topic
from tests.flink.kafka_io import isolated_kafka, read_all

pytestmark = pytest.mark.integration


def test_obm_rules_commands(monkeypatch, pg_settings, kafka_settings) -> None:
    kafka = isolated_kafka(kafka_settings, (Topic.RULES,))
    env = {"OBM_PG_HOST": pg_settings.host, "OBM_PG_PORT": str(pg_settings.port), "OBM_PG_USER": pg_settings.user,
           "OBM_PG_PASSWORD": pg_settings.password.get_secret_value(), "OBM_PG_DATABASE": pg_settings.database,
           "OBM_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "OBM_KAFKA_TOPIC_PREFIX": kafka.topic_prefix}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cli = CliRunner()

    def obm(*args: str) -> str:
        result = cli.invoke(main, ["rules", *args])
        assert result.exit_code == 0, result.output
        return result.output

    refused = cli.invoke(main, ["rules", "add", "--name", "x", "--metric", "spred", "--condition", "above",
                                "--threshold", "1", "--min-duration", "soon"])  # fmt: skip
    assert refused.exit_code == 1
    assert "the rule was not stored" in refused.output
    assert all(f"  {f}:" in refused.output for f in ("metric", "condition", "min_duration_ms"))

    listed = obm("metrics").splitlines()
    assert listed[0].startswith("orderbook.processed (symbol scope): best_bid, ")
    assert any(line.startswith("trades.bars:5m (symbol scope): open, high") for line in listed)
    assert obm("metrics", "--source", "pairs.analytics").startswith(
        "pairs.analytics (pair scope y/x): y_close"
    )
    pair = obm("add", "--name", f"pair {kafka.topic_prefix}", "--source", "pairs.analytics", "--metric", "zscore",
               "--scope", "binance:ETHUSDT/binance:BTCUSDT", "--condition", "abs >", "--threshold", "2")  # fmt: skip
    assert "zscore of pairs.analytics abs > 2 on binance:ETHUSDT/binance:BTCUSDT" in pair
    wrong = cli.invoke(main, ["rules", "add", "--name", "x", "--source", "trades.bars:1m", "--metric", "zscore",
                              "--condition", ">", "--threshold", "1"])  # fmt: skip
    assert wrong.exit_code == 1 and "zscore is a field of pairs.analytics" in wrong.output

    name = f"cli {kafka.topic_prefix}"
    added = obm("add", "--name", name, "--metric", "spread_bps", "--scope", "*:ETH*", "--condition", "abs >",
                "--threshold", "4", "--cooldown", "30s", "--by", "dee")  # fmt: skip
    rule_id = int(re.match(r"\s*(\d+)", added).group(1))  # type: ignore[union-attr]
    assert f"{name}: spread_bps abs > 4 on *:ETH*, cooldown 30000 ms" in added
    assert any(line.lstrip().startswith(f"{rule_id} ") for line in obm("list").splitlines())
    assert "spread_bps abs > 5" in obm("edit", str(rule_id), "--threshold", "5", "--by", "eve")
    bad_edit = cli.invoke(main, ["rules", "edit", str(rule_id), "--severity", "urgent"])
    assert bad_edit.exit_code == 1 and "severity:" in bad_edit.output
    assert "disabled" in obm("disable", str(rule_id), "--by", "eve")
    assert "deleted" in obm("delete", str(rule_id), "--by", "fay")
    assert not any(line.lstrip().startswith(f"{rule_id} ") for line in obm("list").splitlines())
    history = [line for line in obm("history", str(rule_id)).splitlines() if line.strip()]
    assert [re.search(r"v\d+ \w+ +by \w+", h).group(0).split() for h in history] == [  # type: ignore[union-attr]
        ["v1", "add", "by", "dee"], ["v2", "edit", "by", "eve"], ["v3", "disable", "by", "eve"],
        ["v4", "delete", "by", "fay"],
    ]  # fmt: skip
    missing = cli.invoke(main, ["rules", "enable", str(rule_id)])
    assert missing.exit_code == 1 and f"no rule {rule_id}" in missing.output
    assert len([r for r in read_all(kafka, Topic.RULES) if r["rule_id"] == rule_id]) == 4
