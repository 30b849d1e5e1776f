"""GPU routing without a GPU: with a GPU configuration the API publishes on cuda.* queues, a
worker started with ``--device cuda`` consumes exactly those, and a worker whose encoders need
CUDA refuses to start, with a message and its own exit code, where there is none."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.blobs import BlobStore
from assistant.dispatch import CeleryDispatch, names
from assistant.plugins.contract import Encoding, MediaItem
from assistant.plugins.registry import registry_for
from tests.support.cluster import Cluster
from tests.support.plugins.slow import DUAL_TYPE
from tests.support.procs import ROOT, children
from tests.support.settings import child_env
from workers.gpu import EXIT_NO_CUDA

GPU_DEVICES = json.dumps({"dualtest": "cuda"})


@pytest.mark.asyncio(loop_scope="session")
async def test_a_gpu_configuration_is_published_on_cuda_and_consumed_by_a_cuda_worker(
    cluster: Cluster, tmp_path: Path
) -> None:
    settings = cluster.settings()
    settings.plugins.devices = {"dualtest": "cuda"}
    registry = registry_for(settings)
    assert registry.encoder_for(DUAL_TYPE).queue == "cuda.image"
    expected = names.all_queues(registry, "cuda")
    assert expected == ["cuda.document", "cuda.image"]

    proc = cluster.start_worker(
        "gpu",
        "",
        device="cuda",
        ASSISTANT_PLUGINS__DEVICES=GPU_DEVICES,
        ASSISTANT_PLUGINS__ALLOW='["documents"]',
    )
    try:
        ping = await asyncio.to_thread(cluster.wait_ready, "cuda.image")
        assert ping["queues"] == expected  # --device cuda: exactly the registry's cuda queues
        assert "dualtest" in ping["encoders"]
        dispatch = CeleryDispatch(
            settings, registry, BlobStore(settings.storage.resolved_blob_url())
        )
        path = tmp_path / "frame.dual"
        path.write_text("routed to the GPU worker")
        [result] = await dispatch.encode("default", [MediaItem(path, DUAL_TYPE, "frame.dual")])
        assert isinstance(result, Encoding), result
        assert result.text == "routed to the GPU worker"
        assert result.metadata["pid"] in children(proc.pid)  # a pool process of the GPU worker
        await dispatch.client.aclose()
    finally:
        cluster.kill("gpu")


def test_a_worker_needing_cuda_refuses_to_start_without_it(tmp_path: Path) -> None:
    env = {
        **child_env(tmp_path),
        "ASSISTANT_WORKERS__REDIS_URL": "redis://127.0.0.1:9/0",  # never reached
        "ASSISTANT_PLUGINS__DEVICE": "cuda",
        "ASSISTANT_PLUGINS__ALLOW": '["whisper", "vision"]',
    }
    result = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "worker", "--device", "cuda"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == EXIT_NO_CUDA, result.stdout + result.stderr
    assert "CUDA is not available" in result.stderr
    assert "vision" in result.stderr and "whisper" in result.stderr
