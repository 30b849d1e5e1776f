"""The embedded default: a real Redis and a real worker subprocess, stopped on exit."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import redis

from assistant.config import Settings
from assistant.embedded import embedded_runtime

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_embedded_runtime_starts_and_stops_redis_and_a_worker(tmp_path: Path) -> None:
    from assistant.dispatch import CeleryClient

    settings = Settings(storage={"data_dir": tmp_path / "data"}, plugins={"allow": ["vision"]})
    with embedded_runtime(settings) as url:
        assert url and settings.workers.redis_url == url
        assert (tmp_path / "data" / "redis" / "appendonlydir").exists() or list(
            (tmp_path / "data" / "redis").glob("appendonly*")
        )
        client = CeleryClient(settings)
        ping = await client.ping("cpu.image", timeout=180)
        assert ping["queues"] == ["cpu.image", "cpu.text"]
        assert ping["encoders"] == ["vision"]
        await client.aclose()
    assert settings.workers.redis_url == ""
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()


async def test_in_process_setting_keeps_everything_in_the_api(tmp_path: Path) -> None:
    from assistant.dispatch import InProcessDispatch
    from assistant.services import Services

    settings = Settings(
        storage={"data_dir": tmp_path / "data"},
        llm={"provider": "fake"},
        workers={"in_process": True, "redis_url": "redis://127.0.0.1:1/0"},
    )
    with embedded_runtime(settings) as url:
        assert url == "redis://127.0.0.1:1/0"  # nothing started
        services = Services.build(settings)
        assert isinstance(services.dispatch, InProcessDispatch)


async def test_a_killed_worker_and_a_killed_redis_are_restarted(tmp_path: Path) -> None:
    """An OOM kill of either child: the embedded default comes back on its own."""
    from assistant.dispatch import CeleryClient

    settings = Settings(storage={"data_dir": tmp_path / "data"}, plugins={"allow": ["vision"]})
    with embedded_runtime(settings) as url:
        assert url is not None
        client = CeleryClient(settings)
        first = await client.ping("cpu.image", timeout=180)
        main = _parent(first["pid"])  # the ping ran in a pool process; kill the worker itself
        os.kill(main, signal.SIGKILL)
        # until the supervisor reaps it: a message sent while the dead consumer's connection is
        # still open would wait out the visibility timeout (Celery's redelivery, not ours)
        deadline = time.monotonic() + 30
        while Path(f"/proc/{main}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        again = await client.ping("cpu.image", timeout=180)
        assert _parent(again["pid"]) != main
        await client.aclose()
        r = redis.Redis.from_url(url, socket_connect_timeout=1)
        r.set("kept", "yes")
        time.sleep(1.5)  # appendfsync everysec
        pid = int(r.info("server")["process_id"])
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            try:
                if r.ping():
                    break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert int(r.info("server")["process_id"]) != pid  # a new server, on the same URL
        assert r.get("kept") == b"yes"  # from the append-only file
        client = CeleryClient(settings)
        assert (await client.ping("cpu.image", timeout=180))["queues"] == ["cpu.image", "cpu.text"]
        await client.aclose()


def _parent(pid: int) -> int:
    # /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after ")"
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])
