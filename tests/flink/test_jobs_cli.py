"""`obm jobs` commands: argument handling (unit) and listing a real cluster (integration)."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from flink_jobs.cli import _settings_overrides, jobs


@pytest.mark.unit
def test_settings_overrides_parse_json_values():
    assert _settings_overrides(("imbalance_high=0.8", 'overrides={"BTCUSDT": {"imbalance_high": 0.9}}')) == {
        "imbalance_high": 0.8,
        "overrides": {"BTCUSDT": {"imbalance_high": 0.9}},
    }
    with pytest.raises(click.BadParameter):
        _settings_overrides(("imbalance_high",))


@pytest.mark.unit
def test_unknown_job_is_refused_before_any_cluster_call():
    result = CliRunner().invoke(jobs, ["submit", "nonsense", "--jobmanager", "127.0.0.1:1"])
    assert result.exit_code == 2 and "nonsense" in result.output


@pytest.mark.integration
def test_list_against_a_running_cluster(flink_settings):
    result = CliRunner().invoke(jobs, ["list", "--all", "--jobmanager", flink_settings.jobmanager])
    assert result.exit_code == 0, result.output
    stop = CliRunner().invoke(jobs, ["stop", "bars", "--jobmanager", flink_settings.jobmanager])
    assert stop.exit_code == 1 and "not running" in stop.output


@pytest.mark.unit
def test_a_missing_jobmanager_is_one_line() -> None:
    result = CliRunner().invoke(jobs, ["cancel", "0" * 32, "--jobmanager", "127.0.0.1:1"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: no Flink JobManager answers:") and result.output.count("\n") == 1
