"""The Kubernetes deployment (deploy/kubernetes/) checked offline: every built-in resource against
the Kubernetes 1.34 OpenAPI schemas that the pinned `kubernetes-validate` package ships (strict:
an unknown field is an error, as the API server's field validation makes it), the FlinkDeployments
against the committed FlinkDeployment schema (tests/deploy/flinkdeployment.v1beta1.schema.json),
and the manifests against the project's own settings: the ConfigMap reads as the typed settings,
the jobs' parallelism, the sinks' replicas and the storage URIs say what those settings say."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from config import (
    FlinkSettings,
    GatewaySettings,
    KafkaSettings,
    NotifySettings,
    PostgresSettings,
    RedisSettings,
    SinkSettings,
)
from flink_jobs.registry import JOB_NAMES, job_definition
from schemas import Topic
from schemas.topic_policy import partition_count

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
K8S_VERSION = "1.34.0"
FLINK_SCHEMA = json.loads((Path(__file__).parent / "flinkdeployment.v1beta1.schema.json").read_text())
NOT_RESOURCES = {"kustomization.yaml", "redpanda-values.yaml"}
# What each component's probes must call: its health endpoint (the sinks have /metrics only).
HEALTH_PATHS = {
    "producer": {"/healthz", "/readyz"},
    "sink-postgres": {"/metrics"},
    "sink-redis": {"/metrics"},
    "dashboard": {"/_stcore/health"},
    "gateway": {"/healthz"},
    "notify": {"/healthz"},
}


def _documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(ROOT.rglob("*.yaml")):
        if path.name in NOT_RESOURCES:
            continue
        found += [(str(path.relative_to(ROOT)), doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


DOCS = _documents()


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in DOCS if doc["kind"] == kind]


def _config_env() -> dict[str, str]:
    (config_map,) = _of_kind("ConfigMap")
    return dict(config_map["data"])


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The ConfigMap's variables in this process's environment, as a pod sees them."""
    env = _config_env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def _validate_flink_deployment(doc: dict[str, Any]) -> None:
    jsonschema.validate(doc, FLINK_SCHEMA)
    kubernetes_validate.validate(doc["spec"]["podTemplate"], K8S_VERSION, strict=True)


@pytest.mark.parametrize(
    ("path", "doc"), DOCS, ids=[f"{p}:{d['kind']}/{d['metadata']['name']}" for p, d in DOCS]
)
def test_each_resource_is_valid_against_its_schema(path: str, doc: dict[str, Any]) -> None:
    if doc["kind"] == "FlinkDeployment":
        _validate_flink_deployment(doc)
    else:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert doc["metadata"].get("namespace", "obm") == "obm"


def test_the_validators_refuse_broken_manifests() -> None:
    """Each check can fail: a misspelt field of a Deployment, a wrong upgrade mode and an unknown
    field of a FlinkDeployment, a Pod template with a wrong type."""
    deployment = copy.deepcopy(next(d for d in _of_kind("Deployment") if d["metadata"]["name"] == "gateway"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/healthz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    flink = _of_kind("FlinkDeployment")[0]
    for broken in ({"upgradeMode": "savepoints"}, {"parallelizm": 2}):
        bad = copy.deepcopy(flink)
        bad["spec"]["job"].update(broken)
        with pytest.raises(jsonschema.ValidationError):
            _validate_flink_deployment(bad)
    bad = copy.deepcopy(flink)
    bad["spec"]["podTemplate"]["spec"]["containers"][0]["envFrom"] = {"configMapRef": "obm-config"}
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate_flink_deployment(bad)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((ROOT / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    # The Secrets are created out of band (their values are not committed); the example is not applied.
    expected = {p for p, _ in DOCS} - {"secrets.example.yaml"}
    assert listed == expected
    assert all((ROOT / p).exists() for p in listed)


def test_the_config_map_reads_as_the_project_settings(configured: dict[str, str]) -> None:
    assert all(key.startswith("OBM_") for key in configured)
    secret_like = [k for k in configured if any(w in k for w in ("PASSWORD", "TOKEN", "SECRET"))]
    assert not secret_like, f"credentials belong in Secrets: {secret_like}"
    kafka, flink, sinks = KafkaSettings(), FlinkSettings(), SinkSettings()
    assert GatewaySettings().profile == "production"
    assert PostgresSettings().host.endswith(".svc.cluster.local")
    assert flink.checkpoint_dir.startswith("s3://") and flink.savepoint_dir.startswith("s3://")
    # Useful parallelism is bounded by the input's partitions.
    for job in flink.jobs:
        assert flink.parallelism_of(job) <= partition_count(job_definition(job).input_topic, kafka), job
    processed = partition_count(Topic.PROCESSED, kafka)
    assert sinks.postgres_instances <= processed and sinks.redis_instances <= processed


def test_every_job_of_the_stack_is_a_flink_deployment_as_the_settings_say(configured: dict[str, str]) -> None:
    flink = FlinkSettings()
    deployments = {d["spec"]["job"]["args"][-1]: d for d in _of_kind("FlinkDeployment")}
    # The jobs the stack runs (OBM_FLINK_JOBS), each one of the registry.
    assert set(deployments) == set(flink.jobs) and set(flink.jobs) <= set(JOB_NAMES)
    for job, doc in deployments.items():
        spec = doc["spec"]
        assert spec["job"]["args"] == ["-py", "/opt/obm/flink_jobs/entrypoint.py", "--job", job]
        assert spec["job"]["upgradeMode"] == "savepoint" and spec["job"]["state"] == "running"
        assert spec["job"]["parallelism"] == flink.parallelism_of(job)
        conf = spec["flinkConfiguration"]
        assert conf["execution.checkpointing.dir"] == flink.checkpoint_dir
        assert conf["execution.checkpointing.savepoint-dir"] == flink.savepoint_dir
        assert conf["pipeline.max-parallelism"] == str(flink.max_parallelism)
        assert conf["high-availability.storageDir"].startswith("s3://")
        (container,) = spec["podTemplate"]["spec"]["containers"]
        refs = [ref.get("configMapRef", ref.get("secretRef"))["name"] for ref in container["envFrom"]]
        assert "obm-config" in refs


def test_sink_replicas_follow_the_instances_setting(configured: dict[str, str]) -> None:
    sinks = SinkSettings()
    replicas = {d["metadata"]["name"]: d["spec"]["replicas"] for d in _of_kind("Deployment")}
    assert replicas["sink-postgres"] == sinks.postgres_instances
    assert replicas["sink-redis"] == sinks.redis_instances
    assert all(replicas[n] == 1 for n in replicas if n.startswith("producer-")), "one producer per venue"


def test_deployments_have_probes_on_health_endpoints_and_resource_requests() -> None:
    for doc in _of_kind("Deployment"):
        component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
        pod = doc["spec"]["template"]
        assert doc["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        for container in pod["spec"]["containers"]:
            ports = {p["name"] for p in container["ports"]}
            for probe in ("livenessProbe", "readinessProbe"):
                get = container[probe]["httpGet"]
                assert get["path"] in HEALTH_PATHS[component], (doc["metadata"]["name"], probe)
                assert get["port"] in ports
            requests = container["resources"]["requests"]
            assert {"cpu", "memory"} <= set(requests), doc["metadata"]["name"]


def test_secrets_come_from_secrets_and_name_real_settings() -> None:
    secrets = {d["metadata"]["name"]: d for d in _of_kind("Secret")}
    for _, doc in DOCS:
        spec = doc.get("spec", {})
        pod = spec.get("template", spec.get("podTemplate", {})).get("spec", {})
        for container in pod.get("containers", []):
            for ref in container.get("envFrom", []):
                if "secretRef" in ref:
                    assert ref["secretRef"]["name"] in secrets
    settings_vars = {
        f"{str(kind.model_config['env_prefix'])}{field}".upper()
        for kind in (PostgresSettings, GatewaySettings, RedisSettings, NotifySettings)
        for field in kind.model_fields
    }
    for secret in secrets.values():
        for key in secret["stringData"]:
            assert key in settings_vars or key.startswith("AWS_"), key


def test_redpanda_values_fit_the_config() -> None:
    values = yaml.safe_load((ROOT / "redpanda-values.yaml").read_text())
    env = _config_env()
    port = int(env["OBM_KAFKA_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1])
    assert values["listeners"]["kafka"]["port"] == port
    assert values["statefulset"]["replicas"] >= int(env["OBM_KAFKA_REPLICATION_FACTOR"])
    assert values["config"]["cluster"]["auto_create_topics_enabled"] is False
