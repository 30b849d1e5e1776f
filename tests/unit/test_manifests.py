"""Static checks of the deployment files: docker/ (Dockerfile, compose) and deploy/k8s/.

Nothing here needs a Docker engine or a cluster. The tools are required, not optional: a
missing tool fails the test with the line that installs it (see docker/validate.sh).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploy import (
    COMPOSE,
    DOCKER,
    ENV_EXAMPLE,
    K8S,
    K8S_VERSIONS,
    run_tool,
    tool_path,
)

pytestmark = pytest.mark.deploy


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: not KEY=VALUE: {line!r}"
            values[key] = value
    return values


def _compose_cmd() -> list[str]:
    return [
        tool_path("docker-compose"),
        "--env-file", str(ENV_EXAMPLE),
        "-f", str(COMPOSE),
        "--profile", "gpu",
        "--profile", "monitoring",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The compose file as docker-compose resolves it (interpolated with .env.example)."""
    result = run_tool(*_compose_cmd(), "config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


# ---------------------------------------------------------------------------------------------
# docker compose


def test_compose_config_is_valid() -> None:
    result = run_tool(*_compose_cmd(), "config", "-q")
    assert result.returncode == 0, f"docker-compose config -q failed:\n{result.stderr}"


def test_compose_services_and_wiring(compose: dict[str, Any]) -> None:
    services = compose["services"]
    expected = {"redis", "chroma", "postgres", "api", "worker-cpu", "worker-gpu", "flower",
                "prometheus"}  # fmt: skip
    assert expected <= set(services)

    for name in ("redis", "chroma", "postgres"):
        assert "healthcheck" in services[name], name
    assert services["redis"]["command"] == ["redis-server", "--appendonly", "yes"]
    assert any("/api/v2/heartbeat" in part for part in services["chroma"]["healthcheck"]["test"])

    targets = {"api": "api", "worker-cpu": "worker-cpu", "worker-gpu": "worker-cuda"}
    for name, target in targets.items():
        svc = services[name]
        assert svc["build"]["target"] == target
        assert Path(svc["build"]["dockerfile"]).name == "Dockerfile"
        for dep in ("redis", "chroma", "postgres"):
            assert svc["depends_on"][dep]["condition"] == "service_healthy", (name, dep)
        env = svc["environment"]
        assert env["ASSISTANT_WORKERS__REDIS_URL"] == "redis://redis:6379/0"
        assert env["ASSISTANT_RETRIEVAL__CHROMA_URL"] == "http://chroma:8000"
        assert env["ASSISTANT_STORAGE__DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@postgres:5432/" in env["ASSISTANT_STORAGE__DATABASE_URL"]

    assert any(_container_port(p) == 8000 for p in services["api"]["ports"])
    assert all(q.startswith("cpu.") for q in _queues(services["worker-cpu"]))
    assert all(q.startswith("cuda.") for q in _queues(services["worker-gpu"]))

    gpu = services["worker-gpu"]
    assert "container_name" not in gpu and "ports" not in gpu, "worker-gpu must stay scalable"
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]

    assert services["flower"]["image"].startswith("mher/flower")
    assert "redis://redis:6379" in services["flower"]["environment"]["CELERY_BROKER_URL"]
    assert services["prometheus"]["profiles"] == ["monitoring"]


def _container_port(port: str | dict[str, Any]) -> int:
    """Container side of a compose port ("host:port:container" string or long syntax)."""
    if isinstance(port, dict):
        return int(port["target"])
    return int(str(port).rsplit(":", 1)[-1].split("/")[0])


def _queues(service: dict[str, Any]) -> list[str]:
    return service["environment"]["WORKER_QUEUES"].split(",")


def test_prometheus_scrapes_api_metrics() -> None:
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    api = jobs["assistant-api"]
    assert api.get("metrics_path", "/metrics") == "/metrics"
    assert "api:8000" in api["static_configs"][0]["targets"]


def test_env_example_documents_every_compose_variable() -> None:
    used = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
    documented = set(_env_example())
    assert used - documented == set(), "add these to docker/.env.example"


def _settings_fields() -> dict[str, Any]:
    from assistant.config import Settings

    return dict(Settings.model_fields)


def _own_settings_names() -> set[str]:
    """Variables of the settings classes with a prefix of their own (bots, built-in plugins)."""
    from pydantic import AliasChoices

    from assistant.bots.settings import DiscordBotSettings, SlackBotSettings
    from plugins.vision.settings import VisionSettings
    from plugins.whisper.settings import WhisperSettings

    names: set[str] = set()
    for cls in (SlackBotSettings, DiscordBotSettings, WhisperSettings, VisionSettings):
        prefix = str(cls.model_config.get("env_prefix") or "")
        for field_name, field in cls.model_fields.items():
            alias = field.validation_alias
            if isinstance(alias, AliasChoices):
                names.update(str(c).upper() for c in alias.choices)
            elif isinstance(alias, str):
                names.add(alias.upper())
            else:
                names.add(f"{prefix}{field_name}".upper())
    return names


def _assert_setting_exists(var: str, fields: dict[str, Any]) -> None:
    if var in _own_settings_names():
        return
    path = var.removeprefix("ASSISTANT_").lower().split("__")
    top = fields.get(path[0])
    assert top is not None, f"{var}: Settings has no field {path[0]!r}"
    if len(path) == 2:
        group = top.annotation
        assert path[1] in group.model_fields, f"{var}: {group.__name__} has no field {path[1]!r}"
    else:
        assert len(path) == 1, var


def test_assistant_variables_match_settings() -> None:
    """Every ASSISTANT_* variable in compose, .env.example or the manifests is a real setting."""
    fields = _settings_fields()
    names = set(re.findall(r"\b(ASSISTANT_[A-Z0-9_]+)", COMPOSE.read_text()))
    names |= set(re.findall(r"\b(ASSISTANT_[A-Z0-9_]+)", ENV_EXAMPLE.read_text()))
    names |= {k for doc in _k8s_docs() for k in _env_names(doc) if k.startswith("ASSISTANT_")}
    assert names
    for name in sorted(names):
        _assert_setting_exists(name, fields)


# ---------------------------------------------------------------------------------------------
# Kubernetes


def _kustomize_resources() -> list[Path]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    paths = [K8S / name for name in kustomization["resources"]]
    missing = [str(p) for p in paths if not p.is_file()]
    assert not missing, f"kustomization.yaml lists missing files: {missing}"
    return paths


def _k8s_docs(with_example_secret: bool = True) -> list[dict[str, Any]]:
    paths = _kustomize_resources()
    if with_example_secret:
        paths.append(K8S / "secret.example.yaml")
    docs = []
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                doc.setdefault("metadata", {}).setdefault("annotations", {})
                doc["metadata"]["annotations"]["x-source"] = path.name
                docs.append(doc)
    return docs


def _env_names(doc: dict[str, Any]) -> list[str]:
    names = list(doc.get("data", {})) if doc["kind"] == "ConfigMap" else []
    for container in _containers(doc):
        names += [e["name"] for e in container.get("env", [])]
    return names


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if doc["kind"] in {"Deployment", "StatefulSet"}:
        return list(doc["spec"]["template"]["spec"]["containers"])
    return []


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


# metadata keys of KEDA's redis (list length) scaler
REDIS_TRIGGER_KEYS = (
    "address", "addressFromEnv", "host", "port", "hostFromEnv", "portFromEnv", "listName",
    "listLength", "activationListLength", "databaseIndex", "enableTLS", "unsafeSsl",
    "usernameFromEnv", "passwordFromEnv",
)  # fmt: skip

SCALED_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {"type": "object", "required": ["name"]},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string", "minLength": 1},
                        "envSourceContainerName": {"type": "string"},
                    },
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                "advanced": {"type": "object"},
                "fallback": {"type": "object"},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "properties": {
                            "type": {"const": "redis"},
                            "name": {"type": "string"},
                            "authenticationRef": {"type": "object"},
                            "metadata": {
                                "type": "object",
                                "required": ["listName"],
                                "additionalProperties": False,
                                "oneOf": [
                                    {"required": ["address"]},
                                    {"required": ["addressFromEnv"]},
                                    {"required": ["host", "port"]},
                                ],
                                # KEDA trigger metadata values are strings
                                "properties": {
                                    k: {"type": "string", "minLength": 1}
                                    for k in REDIS_TRIGGER_KEYS
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def _validate_scaled_object(doc: dict[str, Any]) -> None:
    import jsonschema

    jsonschema.validate(doc, SCALED_OBJECT_SCHEMA)
    spec = doc["spec"]
    assert spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100)
    for trigger in spec["triggers"]:
        for key in ("listLength", "activationListLength", "databaseIndex"):
            if key in trigger["metadata"]:
                assert trigger["metadata"][key].isdigit(), (key, trigger["metadata"][key])


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_k8s_schemas(version: str) -> None:
    import kubernetes_validate

    docs = _k8s_docs()
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ConfigMap", "ScaledObject"} <= kinds
    for doc in docs:
        meta = doc["metadata"]
        where = f"{meta['annotations']['x-source']}: {doc['kind']}/{meta['name']}"
        if doc["kind"] == "ScaledObject":
            _validate_scaled_object(doc)
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{where} is invalid for Kubernetes {version}: {exc.message}")


def test_k8s_strict_validation_catches_typos() -> None:
    """Guard against a validator that accepts anything (e.g. schemas not found)."""
    import kubernetes_validate

    bad = _by_kind(_k8s_docs(), "Deployment")["assistant-api"]
    bad["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSIONS[-1], strict=True)


def test_k8s_references() -> None:
    docs = _k8s_docs()
    deployments = _by_kind(docs, "Deployment")
    workloads = deployments | _by_kind(docs, "StatefulSet")
    config_maps = _by_kind(docs, "ConfigMap")
    secrets = _by_kind(docs, "Secret")
    claims = _by_kind(docs, "PersistentVolumeClaim")

    for name, svc in _by_kind(docs, "Service").items():
        selector = svc["spec"]["selector"]
        assert any(
            selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
            for w in workloads.values()
        ), f"Service {name} selects no pods"

    for name, workload in workloads.items():
        pod = workload["spec"]["template"]["spec"]
        assert workload["spec"]["selector"]["matchLabels"].items() <= (
            workload["spec"]["template"]["metadata"]["labels"].items()
        ), name
        for container in pod["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in config_maps, name
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in secrets, name
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]]["stringData"], (name, ref)
        for volume in pod.get("volumes", []):
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, name


def test_k8s_api_and_workers() -> None:
    docs = _k8s_docs()
    deployments = _by_kind(docs, "Deployment")
    api = deployments["assistant-api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert _by_kind(docs, "Service")["assistant-api"]["spec"]["ports"][0]["port"] == 8000

    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name

    cpu = deployments["assistant-worker-cpu"]["spec"]["template"]["spec"]
    gpu = deployments["assistant-worker-gpu"]["spec"]["template"]["spec"]
    assert all(q.startswith("cpu.") for q in _worker_queues(cpu))
    assert all(q.startswith("cuda.") for q in _worker_queues(gpu))
    limits = gpu["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 1
    assert gpu["nodeSelector"] and any(t["key"] == "nvidia.com/gpu" for t in gpu["tolerations"])
    assert "nvidia.com/gpu" not in cpu["containers"][0]["resources"].get("limits", {})


def _worker_queues(pod: dict[str, Any]) -> list[str]:
    env = {e["name"]: e.get("value", "") for e in pod["containers"][0].get("env", [])}
    return env["WORKER_QUEUES"].split(",")


def test_keda_scales_gpu_worker_on_its_queues() -> None:
    docs = _k8s_docs()
    scaled = _by_kind(docs, "ScaledObject")["assistant-worker-gpu"]
    target = _by_kind(docs, "Deployment")[scaled["spec"]["scaleTargetRef"]["name"]]
    pod = target["spec"]["template"]["spec"]
    queues = set(_worker_queues(pod))
    container_env = set(_env_names(target))
    config_maps = _by_kind(docs, "ConfigMap")
    for source in pod["containers"][0].get("envFrom", []):
        if "configMapRef" in source:
            container_env |= set(config_maps[source["configMapRef"]["name"]]["data"])
    lists = set()
    for trigger in scaled["spec"]["triggers"]:
        meta = trigger["metadata"]
        lists.add(meta["listName"])
        if "addressFromEnv" in meta:
            assert meta["addressFromEnv"] in container_env, "KEDA reads it from the target's env"
    assert "cuda.video" in lists
    assert lists <= queues, "each trigger watches a queue that the GPU worker consumes"
