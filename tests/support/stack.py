"""A production-shaped stack of real processes on loopback (redis-server, `chroma run`,
`assistant worker`, `assistant serve`), each restartable on its address, and a traffic thread
that keeps asking while faults are injected."""

from __future__ import annotations

import base64
import contextlib
import io
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from assistant.dispatch.heartbeats import worker_heartbeats
from assistant.embedded import EmbeddedRedis
from tests.support import media as mf
from tests.support.procs import ROOT, free_port, spawn, stop, wait_for, wait_ready
from tests.support.settings import AUTH, MODEL, child_env

VISIBILITY_S = 10


def coffee_png(variant: int = 0) -> str:
    """The coffee photo as a base64 PNG; each ``variant`` other bytes (one pixel differs), so
    the encode cache cannot answer it: it needs a worker."""
    buffer = io.BytesIO()
    img = mf.photo("coffee").resize((256, 192))
    if variant:
        img.putpixel((0, 0), (variant % 256, variant // 256 % 256, 7))
    img.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def text_chat(question: str = "How tall is the Eiffel Tower?") -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": question}]}


def image_chat(png_b64: str) -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png_b64}"}},
                ],
            }
        ],
    }


@dataclass
class Traffic:
    """A bounded loop of text chats from a thread; records (time, status) of each answer."""

    base: str
    body: dict[str, Any] = field(default_factory=text_chat)
    results: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Traffic:
        def run() -> None:
            with httpx.Client(base_url=self.base, headers=AUTH, timeout=30) as client:
                for _ in range(2000):
                    if self._stop.is_set():
                        return
                    try:
                        status = client.post("/v1/chat/completions", json=self.body).status_code
                    except httpx.HTTPError:
                        status = -1
                    self.results.append((time.monotonic(), status))
                    time.sleep(0.1)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[int]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
        return [s for _, s in self.results]

    def since(self, t: float) -> list[int]:
        return [s for when, s in self.results if when >= t]


@dataclass
class Stack:
    """Redis, Chroma, one worker and one API server, each restartable on the same address."""

    root: Path
    redis: EmbeddedRedis
    chroma_port: int
    api_port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    queues: str = "cpu.text,cpu.image"  # what the worker consumes
    extra_env: dict[str, str] = field(default_factory=dict)  # settings of this stack's processes

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def chroma_url(self) -> str:
        return f"http://127.0.0.1:{self.chroma_port}"

    def env(self) -> dict[str, str]:
        settings = {
            "ASSISTANT_WORKERS__RESULT_TIMEOUT_S": "8",
            "ASSISTANT_WORKERS__JOB_RESULT_TIMEOUT_S": "30",
            **self.extra_env,
        }
        return child_env(
            self.root / "data",
            ASSISTANT_WORKERS__REDIS_URL=self.redis.url,
            ASSISTANT_WORKERS__VISIBILITY_TIMEOUT_S=str(VISIBILITY_S),
            ASSISTANT_RETRIEVAL__CHROMA_URL=self.chroma_url,
            ASSISTANT_LLM__PROVIDER="fake",
            ASSISTANT_LOG_LEVEL="INFO",
            PYTHONPATH=str(ROOT),
            **settings,
        )

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.procs[name] = spawn(argv, env or self.env(), self.root / f"{name}.log")

    def start_chroma(self) -> None:
        exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
        self._spawn(
            "chroma",
            [exe, "run", "--path", str(self.root / "chroma"), "--host", "127.0.0.1",
             "--port", str(self.chroma_port)],
        )  # fmt: skip
        wait_ready(f"{self.chroma_url}/api/v2/heartbeat", timeout=60, proc=self.procs["chroma"])

    def start_worker(self) -> None:
        self._spawn(
            "worker",
            [sys.executable, "-m", "assistant.cli", "worker", "--queues", self.queues,
             "--concurrency", "1", "--name", "faults@test", "--loglevel", "INFO"],
        )  # fmt: skip

    def wait_worker(self, timeout: float = 120.0) -> None:
        """Ready once a heartbeat names cpu.image and cpu.text (models loaded)."""

        def up() -> bool:
            try:
                client = redis.Redis.from_url(self.redis.url, socket_timeout=1)
                try:
                    beats = worker_heartbeats(client)
                finally:
                    client.close()
            except redis.RedisError:
                return False
            proc = self.procs.get("worker")
            return any(
                str(proc.pid if proc else "") == str(d.get("pid"))
                and "cpu.image" in d.get("queues", "")
                for d in beats.values()
            )

        assert wait_for(up, timeout, 0.5), "the worker did not come up"

    def start_api(self) -> None:
        self._spawn(
            "api",
            [sys.executable, "-m", "assistant.cli", "serve", "--port", str(self.api_port)],
        )
        wait_ready(f"{self.base}/healthz", timeout=120, proc=self.procs["api"])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        stop(self.procs.pop(name, None), sig)

    def logs(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


@contextlib.contextmanager
def running_stack(root: Path, **options: Any) -> Iterator[Stack]:
    """A Stack on free ports under ``root``, all of it started (models loaded), then stopped."""
    s = Stack(
        root, EmbeddedRedis(root / "data", port=free_port()), free_port(), free_port(), **options
    )
    s.redis.start()
    try:
        s.start_chroma()
        s.start_worker()
        s.start_api()
        s.wait_worker()
        yield s
    finally:
        for name in ("api", "worker", "chroma"):
            s.kill(name, signal.SIGTERM)
        s.redis.stop()


def upload(client: httpx.Client, name: str, data: bytes) -> str:
    response = client.post("/v1/files", files={"file": (name, data, "text/markdown")})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def submit_ingest(client: httpx.Client, file_id: str) -> str:
    response = client.post("/v1/jobs", json={"kind": "ingest", "input": {"file_ids": [file_id]}})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait_jobs(client: httpx.Client, job_ids: list[str], timeout: float) -> dict[str, str]:
    states: dict[str, str] = {}

    def done() -> bool:
        for job_id in job_ids:
            if states.get(job_id) in ("succeeded", "failed", "cancelled"):
                continue
            with contextlib.suppress(httpx.HTTPError):
                response = client.get(f"/v1/jobs/{job_id}")
                if response.status_code == 200:
                    states[job_id] = response.json()["state"]
        return all(states.get(j) in ("succeeded", "failed", "cancelled") for j in job_ids)

    wait_for(done, timeout, 0.5)
    return states
