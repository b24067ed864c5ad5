"""Static checks of docker-compose.yml against the project: images, commands, ports, health,
dependencies, environment, files, and the topic policy. No Docker engine needed."""

from __future__ import annotations

import importlib.util
import json
import re
from importlib.metadata import version

import pytest
import yaml
from compose_model import (
    COMPOSE_FILE,
    REPO,
    command_argv,
    compose,
    environment,
    host_ports,
    interpolated_names,
    is_one_shot,
    required_names,
    services,
)

from config import DashboardSettings, FlinkSettings, KafkaSettings, PostgresSettings, RedisSettings
from config.reference import all_setting_docs
from obm.operator.topic_policy import TOPIC_POLICIES
from schemas import Topic

pytestmark = pytest.mark.unit

PINNED_TAG = re.compile(r"^[\w./-]+(:\d+)?/?[\w./-]*:(?!latest$)[\w][\w.-]*$")
SETTING_NAMES = {s.env for cls in all_setting_docs() for s in cls.settings}


def test_expected_services_and_profiles() -> None:
    svcs = services()
    core = {
        "redpanda", "console", "topic-init", "flink-jobmanager", "flink-taskmanager", "job-submit",
        "timescaledb", "db-init", "redis", "sink-postgres", "sink-redis", "dashboard",
    }  # fmt: skip
    assert core <= set(svcs)
    assert all(not svcs[name].get("profiles") for name in core), "the core runs without any profile"
    profiles = {name: tuple(svc.get("profiles", ())) for name, svc in svcs.items() if svc.get("profiles")}
    assert profiles == {
        "simulator": ("simulated",),
        "producer": ("simulated",),
        "producer-live": ("live",),
        **{f"producer-{venue}": ("venues",) for venue in ("okx", "bybit", "gateio", "hyperliquid")},
        "prometheus": ("with-grafana",),
        "grafana": ("with-grafana",),
        "pgadmin": ("with-pgadmin",),
    }


def test_every_image_is_pinned() -> None:
    project_version = version("orderbook-monitor")
    for name, svc in services().items():
        image = svc.get("image")
        assert image, f"{name} has no image"
        assert PINNED_TAG.match(image), f"{name}: image {image!r} is not pinned to a version tag"
        if "build" in svc:
            assert image.endswith(f":{project_version}"), (
                f"{name}: a built image is tagged with the project version"
            )


def test_long_running_services_have_healthchecks_and_one_shots_do_not_restart() -> None:
    for name, svc in services().items():
        if is_one_shot(svc):
            assert "healthcheck" not in svc, name
            continue
        check = svc.get("healthcheck", {})
        assert check.get("test"), f"{name} is long-running and has no healthcheck"
        assert svc.get("restart") == "unless-stopped", name


def test_dependencies_wait_for_health_or_completion() -> None:
    svcs = services()
    for name, svc in svcs.items():
        deps = svc.get("depends_on", {})
        assert isinstance(deps, dict), f"{name}: depends_on must use the long form with conditions"
        for dep, spec in deps.items():
            assert dep in svcs, f"{name} depends on unknown {dep}"
            target = svcs[dep]
            if is_one_shot(target):
                assert spec["condition"] == "service_completed_successfully", f"{name} -> {dep}"
            else:
                assert spec["condition"] == "service_healthy", f"{name} -> {dep}"
                assert target.get("healthcheck"), f"{name} waits for {dep}'s health, which it has not"
            # a service outside any profile cannot depend on one that a profile may switch off
            if not svc.get("profiles"):
                assert not target.get("profiles"), f"{name} (always on) depends on profiled {dep}"


def test_host_ports_do_not_clash_are_local_and_match_the_settings_defaults() -> None:
    ports = host_ports()
    numbers = [p.host_port for p in ports]
    assert len(numbers) == len(set(numbers)), f"host port used twice: {sorted(numbers)}"
    assert all(p.host_ip == "127.0.0.1" for p in ports), "publish on loopback only"
    by_service = {(p.service, p.container_port): p.host_port for p in ports}
    assert by_service[("redpanda", 9092)] == KafkaSettings().port
    assert by_service[("timescaledb", 5432)] == PostgresSettings().port
    assert by_service[("redis", 6379)] == RedisSettings().port
    assert by_service[("flink-jobmanager", 8081)] == FlinkSettings().rest_port
    assert by_service[("dashboard", 8501)] == DashboardSettings().port
    # Flink's REST/UI keeps 8081; the schema registry moved
    registry_flag = next(
        a for a in command_argv(services()["redpanda"]) if a.startswith("--schema-registry-addr")
    )
    assert registry_flag.endswith(":18081") and 18081 in numbers


def test_environment_names_are_settings_and_addresses_are_services() -> None:
    svcs = services()
    for name, svc in svcs.items():
        for key, value in environment(svc).items():
            if key.startswith("OBM_"):
                assert key in SETTING_NAMES, f"{name}: {key} is not a setting of config/settings/"
            if key in ("OBM_KAFKA_BOOTSTRAP_SERVERS", "OBM_FLINK_JOBMANAGER"):
                host, port = value.rsplit(":", 1)
                assert host in svcs and port.isdigit(), f"{name}: {key}={value}"
            if key in ("OBM_PG_HOST", "OBM_REDIS_HOST"):
                assert value in svcs, f"{name}: {key}={value} is not a service"
            if key.endswith("_WS_URL") or key.endswith("_REST_URL"):
                assert value == "" or value.split("://")[1].split(":")[0] in svcs, f"{name}: {key}"
    broker = environment(svcs["sink-postgres"])["OBM_KAFKA_BOOTSTRAP_SERVERS"]
    assert f"--advertise-kafka-addr=internal://{broker}" in " ".join(command_argv(svcs["redpanda"]))


def test_interpolated_variables_are_in_env_example() -> None:
    text = COMPOSE_FILE.read_text()
    example = (REPO / ".env.example").read_text()
    set_in_example = {line.split("=", 1)[0] for line in example.splitlines() if re.match(r"^[A-Z_]+=", line)}
    for var in interpolated_names(text):
        assert re.search(rf"^#? ?{var}=", example, re.M), f"${{{var}}} is not documented in .env.example"
    missing = required_names(text) - set_in_example
    assert not missing, f"required by Compose but not set in .env.example: {missing}"
    # no password is written into the Compose file itself
    for name, svc in services().items():
        for key, value in environment(svc).items():
            if "PASSWORD" in key:
                assert value.startswith("${") and ":?" in value, f"{name}: {key} must come from .env"


def _python_module(argv: list[str]) -> str | None:
    if len(argv) >= 3 and argv[0] == "python" and argv[1] == "-m":
        return argv[2]
    return None


def test_commands_reference_real_modules_and_files() -> None:
    checked = 0
    for name, svc in services().items():
        argv = command_argv(svc)
        module = _python_module(argv)
        if module is None:
            continue
        checked += 1
        if module == "streamlit":
            assert argv[3] == "run" and (REPO / argv[4]).is_file(), f"{name}: {argv[4]} missing"
            continue
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin and spec.origin.startswith(str(REPO)), (
            f"{name}: no module {module}"
        )
        if spec.submodule_search_locations:  # a package: `python -m` runs its __main__
            assert importlib.util.find_spec(f"{module}.__main__") is not None, (
                f"{name}: {module} has no __main__"
            )
    assert checked >= 7


def test_job_submit_arguments_parse() -> None:
    from obm.operator.job_rollout import main as rollout_main

    argv = command_argv(services()["job-submit"])
    assert argv[:3] == ["python", "-m", "obm.operator.job_rollout"]
    ctx = rollout_main.make_context("rollout", argv[3:])
    # The jobs `obm up` runs (FlinkSettings.jobs): the Compose stack shows what the embedded one does.
    assert ctx.params["jobs"] == tuple(FlinkSettings().jobs)
    assert ctx.params["jobmanager"] == "flink-jobmanager:8081"
    record_dir = str(ctx.params["record_dir"])
    mounts = [v.split(":")[1] for v in services()["job-submit"]["volumes"]]
    assert any(record_dir.startswith(m + "/") for m in mounts), "rollout records must live on a volume"


def test_the_task_manager_and_the_jobs_missing_rule_fit_the_submitted_jobs() -> None:
    """A job short of a slot waits for ever; the ObmFlinkJobsMissing rule fires below the number
    of jobs job-submit runs (one slot each, at parallelism.default 1)."""
    props = yaml.safe_load(environment(services()["flink-taskmanager"])["FLINK_PROPERTIES"])
    from obm.operator.job_rollout import main as rollout_main

    jobs = rollout_main.make_context("rollout", command_argv(services()["job-submit"])[3:]).params["jobs"]
    assert props["parallelism.default"] == 1
    assert props["taskmanager.numberOfTaskSlots"] >= len(jobs) == len(FlinkSettings().jobs)
    rules = yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text())
    (missing,) = [r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "ObmFlinkJobsMissing"]
    assert missing["expr"].strip() == f"flink_jobmanager_numRunningJobs < {len(jobs)}"


def test_topic_init_matches_the_topic_policy() -> None:
    script = command_argv(services()["topic-init"])[-1]
    created = {
        m.group(1): m.groups()[1:]
        for m in re.finditer(
            r"rpk topic create (\S+) -p (\d+) -r (\d+) -c retention\.ms=(\d+) -c cleanup\.policy=(\w+)",
            script,
        )
    }
    settings = KafkaSettings()
    expected = {
        t.value: (
            str(p.partition_count(settings)),
            str(settings.replication_factor),
            str(p.retention_ms),
            p.cleanup_policy,
        )
        for t, p in TOPIC_POLICIES.items()
    }
    assert created == expected
    for topic in Topic:  # an existing topic gets its configuration re-applied
        policy = TOPIC_POLICIES[topic]
        assert (
            f"rpk topic alter-config {topic.value} --set retention.ms={policy.retention_ms} "
            f"--set cleanup.policy={policy.cleanup_policy}"
        ) in script


def test_bind_mounts_and_build_files_exist() -> None:
    for name, svc in services().items():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name}: {source} missing"
                assert ".." not in source, f"{name}: {source} leaves the repository"
            else:
                assert source in compose()["volumes"], f"{name}: named volume {source} not declared"
        if "build" in svc:
            build = svc["build"]
            assert build["context"] == "."
            assert (REPO / build["dockerfile"]).is_file()
        for env_file in svc.get("env_file", []):
            if isinstance(env_file, dict) and env_file.get("required") is False:
                continue
            path = env_file["path"] if isinstance(env_file, dict) else env_file
            assert (REPO / path).exists(), f"{name}: env_file {path} missing"


def test_console_is_wired_to_broker_registry_and_admin_api() -> None:
    cfg = yaml.safe_load((REPO / "deploy/redpanda-console/config.yaml").read_text())
    argv = " ".join(command_argv(services()["redpanda"]))
    assert cfg["kafka"]["brokers"] == ["redpanda:29092"] and "internal://0.0.0.0:29092" in argv
    assert cfg["schemaRegistry"]["urls"] == ["http://redpanda:18081"]
    assert cfg["redpanda"]["adminApi"]["urls"] == ["http://redpanda:9644"]


def test_grafana_provisioning_matches_the_stack() -> None:
    ds = yaml.safe_load((REPO / "deploy/grafana/provisioning/datasources/datasources.yaml").read_text())
    uids = {d["uid"] for d in ds["datasources"]}
    dashboard = json.loads((REPO / "deploy/grafana/dashboards/orderbook-monitor.json").read_text())
    used = {p["datasource"]["uid"] for p in dashboard["panels"]}
    assert used == uids
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    prom = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    svcs = services()
    for job in prom["scrape_configs"]:
        for target in job["static_configs"][0]["targets"]:
            host, _port = target.split(":")
            assert host in svcs, f"prometheus scrapes unknown service {host}"
    # the exported metric names the dashboard queries exist in the code that exports them
    exported = (REPO / "producer/observability.py").read_text() + (REPO / "sinks/sink_metrics.py").read_text()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for metric in re.findall(
                r"\b(obm_(?:producer|sink)_[a-z_]+?)(?:_total|_bucket)?\b", target.get("expr", "")
            ):
                stem = metric.removeprefix("obm_producer_").removeprefix("obm_sink_")
                assert stem in exported, f"dashboard queries {metric}, which nothing exports"
