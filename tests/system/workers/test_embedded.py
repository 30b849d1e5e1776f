"""The embedded default: a real Redis and a real worker subprocess, stopped on exit."""

from __future__ import annotations

from pathlib import Path

import pytest

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
    import redis

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
