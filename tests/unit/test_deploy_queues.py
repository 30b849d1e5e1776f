"""The deployment files name exactly the queues the registry publishes for their device
configuration: compose's GPU profile, the Kubernetes workers and the KEDA triggers cannot drift
from the code again."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from assistant.dispatch import names
from assistant.plugins.registry import build_registry
from tests.support.deploy import run_tool
from tests.unit.test_manifests import (
    _by_kind,
    _compose_cmd,
    _env_names,
    _k8s_docs,
    _queues,
    _worker_queues,
)

pytestmark = pytest.mark.deploy


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    result = run_tool(*_compose_cmd(), "config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


BUILT_INS = ["whisper", "vision", "video", "documents"]


def _published(device: str) -> tuple[list[str], list[str]]:
    """(cuda queues, cpu queues) the API and workers derive for ``plugins.device=device``."""
    registry = build_registry(allow=BUILT_INS, device=device)
    return names.all_queues(registry, "cuda"), names.all_queues(registry, "cpu")


def test_compose_queues_match_the_registry(compose: dict[str, Any]) -> None:
    services = compose["services"]
    shared = [s.get("environment", {}).get("ASSISTANT_PLUGINS__DEVICE") for s in services.values()]
    assert set(shared) - {None} == {"cpu"}, "one device setting, shared by the API and workers"
    cuda, _ = _published("cuda")
    assert _queues(services["worker-gpu"]) == cuda
    _, cpu = _published("cpu")
    assert sorted(_queues(services["worker-cpu"])) == cpu


def test_k8s_queues_and_keda_triggers_match_the_registry() -> None:
    docs = _k8s_docs()
    config = _by_kind(docs, "ConfigMap")["assistant-config"]["data"]
    device = config["ASSISTANT_PLUGINS__DEVICE"]
    for doc in _by_kind(docs, "Deployment").values():  # no override: API and workers agree
        assert "ASSISTANT_PLUGINS__DEVICE" not in _env_names(doc), doc["metadata"]["name"]
    cuda, cpu = _published(device)
    deployments = _by_kind(docs, "Deployment")
    gpu = deployments["assistant-worker-gpu"]["spec"]["template"]["spec"]
    assert _worker_queues(gpu) == cuda
    cpu_pod = deployments["assistant-worker-cpu"]["spec"]["template"]["spec"]
    assert sorted(_worker_queues(cpu_pod)) == cpu
    scaled = _by_kind(docs, "ScaledObject")["assistant-worker-gpu"]
    assert sorted(t["metadata"]["listName"] for t in scaled["spec"]["triggers"]) == cuda
