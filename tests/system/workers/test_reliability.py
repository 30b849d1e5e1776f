"""A killed worker loses no task (and runs it once more, not twice); a Redis restart loses no
queued job; a long task is not redelivered while its worker lives."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.blobs import BlobStore
from assistant.dispatch import CeleryClient, CeleryDispatch
from assistant.dispatch.protocol import track_tasks
from assistant.embedded import EmbeddedRedis
from assistant.errors import ServiceUnavailable
from assistant.logs import job_id
from assistant.plugins.contract import Encoding, MediaItem
from assistant.plugins.registry import registry_for
from tests.support.cluster import VISIBILITY_S, Cluster
from tests.support.plugins.slow import ECHO_TYPE, SLOW_TYPE
from tests.support.procs import ROOT, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _owner(cluster: Cluster, pid: int) -> str:
    group = os.getpgid(pid)
    return next(name for name, proc in cluster.procs.items() if proc.pid == group)


async def test_sigkilled_worker_mid_task_completes_elsewhere_once(
    cluster: Cluster, write_spec: Callable[[str, float], Path]
) -> None:
    settings = cluster.settings()
    dispatch = CeleryDispatch(
        settings, registry_for(settings), BlobStore(settings.storage.resolved_blob_url())
    )
    # longer than the visibility timeout: the keeper must stop a redelivery while B runs it
    seconds = VISIBILITY_S + 4
    spec = write_spec("killme", seconds)
    pending = asyncio.create_task(
        dispatch.encode("default", [MediaItem(spec, SLOW_TYPE, "killme")])
    )

    def starts() -> list[list[str]]:
        return [x for x in cluster.slow_lines() if x[0] == "start" and x[2] == "killme"]

    assert await asyncio.to_thread(wait_for, lambda: len(starts()) == 1, 30)
    first_pid = int(starts()[0][1])
    victim = _owner(cluster, first_pid)
    await asyncio.sleep(1.0)
    cluster.kill(victim)  # SIGKILL to the main process and its pool child
    # a fresh idle worker: it would take a second copy if the message became visible again
    cluster.start_worker(victim, "cpu.document")
    [result] = await asyncio.wait_for(pending, timeout=VISIBILITY_S * 2 + seconds * 2 + 60)
    assert isinstance(result, Encoding), result
    assert result.metadata["pid"] != first_pid
    await asyncio.sleep(VISIBILITY_S / 2)
    lines = [x for x in cluster.slow_lines() if x[2] == "killme"]
    assert [x[0] for x in lines].count("start") == 2, lines
    assert [x[0] for x in lines].count("done") == 1, lines
    assert int(next(x for x in lines if x[0] == "done")[1]) == result.metadata["pid"]
    await dispatch.client.aclose()


async def test_redis_restart_loses_no_queued_job(tmp_path: Path, cluster: Cluster) -> None:
    """A task queued while no worker consumes its queue survives a Redis restart (AOF)."""
    server = EmbeddedRedis(tmp_path / "data")
    server.start()
    worker: subprocess.Popen[bytes] | None = None
    settings = cluster.settings(redis_url=server.url)
    settings.storage.data_dir = tmp_path / "data"
    dispatch = CeleryDispatch(
        settings, registry_for(settings), BlobStore(settings.storage.resolved_blob_url())
    )
    try:
        path = tmp_path / "queued.echo"
        path.write_text("still here")
        # as a job: jobs wait for a worker (interactive requests get a 503 instead, below)
        token = job_id.set("job_restart")
        pending = asyncio.create_task(dispatch.encode("default", [MediaItem(path, ECHO_TYPE, "q")]))
        job_id.reset(token)
        import redis

        client = redis.Redis.from_url(server.url)
        assert await asyncio.to_thread(wait_for, lambda: client.llen("cuda.document") == 1, 10)
        await asyncio.sleep(1.2)  # appendfsync everysec; SIGTERM flushes anyway
        port = server.port
        server.stop()
        server = EmbeddedRedis(tmp_path / "data", port=port)
        server.start()
        assert client.llen("cuda.document") == 1
        env = cluster.env(
            ASSISTANT_WORKERS__REDIS_URL=server.url,
            ASSISTANT_STORAGE__DATA_DIR=str(tmp_path / "data"),
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "assistant.cli", "worker", "--queues", "cuda.document",
             "--name", "restart@test"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        [result] = await asyncio.wait_for(pending, timeout=90)
        assert isinstance(result, Encoding) and result.text == "still here"
    finally:
        await dispatch.client.aclose()
        if worker is not None:
            os.killpg(worker.pid, 15)
            worker.wait(30)
        server.stop()


async def test_interactive_request_without_a_worker_fails_fast(
    tmp_path: Path, cluster: Cluster
) -> None:
    """A chat attachment whose queue no live worker consumes gets a clear 503 at once, rather
    than waiting for the result timeout."""
    server = EmbeddedRedis(tmp_path / "data")
    server.start()
    settings = cluster.settings(redis_url=server.url)
    settings.storage.data_dir = tmp_path / "data"
    dispatch = CeleryDispatch(
        settings, registry_for(settings), BlobStore(settings.storage.resolved_blob_url())
    )
    try:
        path = tmp_path / "nobody.echo"
        path.write_text("anyone?")
        started = time.monotonic()
        [result] = await dispatch.encode("default", [MediaItem(path, ECHO_TYPE, "q")])
        assert time.monotonic() - started < 5
        assert isinstance(result, ServiceUnavailable)
        assert "no worker is serving the cuda.document queue" in result.message
    finally:
        await dispatch.client.aclose()
        server.stop()


async def test_a_task_revoked_by_someone_else_is_retryable_not_cancelled(
    cluster: Cluster, write_spec: Callable[[str, float], Path]
) -> None:
    """What a worker does to a late-ack task when it loses Redis (or a shared batch revoked for
    another caller): REVOKED. Only the caller's own cancel may end its work as cancelled."""
    settings = cluster.settings()
    dispatch = CeleryDispatch(
        settings, registry_for(settings), BlobStore(settings.storage.resolved_blob_url())
    )
    spec = write_spec("revokeme", 20)
    with track_tasks() as sent:
        pending = asyncio.create_task(
            dispatch.encode("default", [MediaItem(spec, SLOW_TYPE, "revokeme")])
        )
        assert await asyncio.to_thread(
            wait_for,
            lambda: any(x[0] == "start" and x[2] == "revokeme" for x in cluster.slow_lines()),
            30,
        )
    other = CeleryClient(settings)  # another process's client, not the caller
    await other.revoke(sent, terminate=True)
    [result] = await asyncio.wait_for(pending, timeout=60)
    assert isinstance(result, ServiceUnavailable), result  # a job puts itself back on this
    assert "revoked" in result.message
    await other.aclose()
    await dispatch.client.aclose()
