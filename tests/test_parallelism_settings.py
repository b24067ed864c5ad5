"""Parallelism settings (issue 18) and what the embedded stack makes of them: partitions per topic,
parallelism per job (and the slots the session cluster gets for them), sink instances in one
group with their own metrics ports. Pure logic, no services."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from config import FlinkSettings, KafkaSettings, SinkSettings, StackSettings
from obm.stack.flink_cluster import FlinkCluster
from obm.stack.supervisor import NEEDS, StackConfig, build_components, needs_of
from schemas import Topic
from schemas.topic_policy import partition_count

pytestmark = pytest.mark.unit


def test_partitions_per_topic_override_the_default_and_the_policy() -> None:
    kafka = KafkaSettings(partitions=6, topic_partitions={"orderbook.raw": 24, "orderbook.dlq": 2})
    assert partition_count(Topic.RAW, kafka) == 24
    assert partition_count(Topic.PROCESSED, kafka) == 6
    assert partition_count(Topic.DLQ, kafka) == 2
    assert partition_count(Topic.DLQ, KafkaSettings()) == 1  # the policy's own


@pytest.mark.parametrize("bad", [{"orderbook.rwa": 3}, {"orderbook.raw": 0}])
def test_unknown_topics_or_no_partitions_are_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValidationError, match="topic_partitions"):
        KafkaSettings(topic_partitions=bad)


def test_parallelism_per_job_and_the_slots_they_need() -> None:
    flink = FlinkSettings(parallelism=1, job_parallelism={"metrics": 3}, jobs=["metrics", "bars", "alerts"])
    assert [flink.parallelism_of(j) for j in ("metrics", "bars", "alerts")] == [3, 1, 1]
    assert flink.slots_needed() == 5
    with pytest.raises(ValidationError, match="job_parallelism"):
        FlinkSettings(job_parallelism={"metric": 2})
    with pytest.raises(ValidationError):
        FlinkSettings(max_parallelism=0)


def test_the_embedded_cluster_has_a_slot_for_every_parallel_instance(tmp_path) -> None:
    def slots(flink: FlinkSettings) -> int:
        cluster = FlinkCluster(flink, StackSettings(state_dir=tmp_path))
        cluster._write_conf()
        return int(
            yaml.safe_load((cluster.conf_dir / "config.yaml").read_text())["taskmanager"]["numberOfTaskSlots"]
        )

    three = ["metrics", "bars", "alerts"]
    assert slots(FlinkSettings(taskmanager_slots=4, jobs=three)) == 4
    assert slots(FlinkSettings(taskmanager_slots=4, jobs=three, job_parallelism={"metrics": 4})) == 6
    # The defaults: a slot for each default job, the trades' bars and the pairs included, with no
    # slot left idle.
    defaults = FlinkSettings()
    assert {"trade_bars", "pairs"} <= set(defaults.jobs)
    assert slots(defaults) == defaults.taskmanager_slots == defaults.slots_needed() == len(defaults.jobs)


def test_sink_instances_are_components_of_one_group_with_their_own_ports() -> None:
    cfg = StackConfig(sinks=SinkSettings(postgres_instances=2, redis_instances=3))
    sinks = {c.name: c for c in build_components(cfg) if c.name.startswith("sink-")}
    assert list(sinks) == ["sink-postgres", "sink-postgres-2", "sink-redis", "sink-redis-2", "sink-redis-3"]
    ports = [int(next(iter(c.extra_env.values()))) for c in sinks.values()]
    assert ports == [9110, 9112, 9111, 9113, 9115] and len(set(ports)) == len(ports)
    assert all(c.module_args[0] == "sinks" for c in sinks.values())
    assert needs_of("sink-redis-3") == NEEDS["sink-redis"]
    assert needs_of("sink-postgres") == NEEDS["sink-postgres"]
    assert needs_of("flink-jobs") == NEEDS["flink-jobs"] and needs_of("kafka") == ()


def test_the_job_configuration_carries_max_parallelism_and_storage_dirs() -> None:
    from flink_jobs.environment import job_configuration

    plain = job_configuration(FlinkSettings(), name="x", with_kafka=False)
    assert plain["pipeline.max-parallelism"] == "128"
    assert "execution.checkpointing.dir" not in plain
    on_s3 = job_configuration(
        FlinkSettings(checkpoint_dir="s3://b/c", savepoint_dir="s3://b/s"),
        name="x",
        parallelism=2,
        with_kafka=False,
    )
    assert on_s3["execution.checkpointing.dir"] == "s3://b/c"
    assert on_s3["execution.checkpointing.savepoint-dir"] == "s3://b/s"
    assert on_s3["parallelism.default"] == "2"
