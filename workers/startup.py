"""Worker start-up: load the encoders of the consumed queues once per pool process; report.

The ``assistant worker`` command exports the queues it consumes in ``ASSISTANT_WORKER_QUEUES``
and its node name in ``ASSISTANT_WORKER_NAME`` before Celery forks the pool, so each child
knows what to load. The main process runs two small threads:

- heartbeat: a Redis hash ``assistant:worker:{node}`` (queues, pid, concurrency, loaded
  encoders per child, time), expiring after 30 s, read by /metrics and readiness checks;
- visibility keeper: refreshes the ``unacked_index`` score of the messages this node holds, so
  a task that runs longer than ``visibility_timeout`` is not redelivered while its worker is
  alive; when the node dies the refreshes stop and kombu's sweep restores the message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from celery.signals import (
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_ready,
    worker_shutdown,
)

from assistant import tracing
from assistant.blobs import BlobStore
from assistant.config import Settings, get_settings
from assistant.dispatch import names, propagation
from assistant.dispatch.celery_app import make_celery
from assistant.dispatch.local import LoadedEncoders
from assistant.embeddings import TextEmbedder
from assistant.plugins.registry import registry_for
from workers import threads
from workers.gpu import skipped_from_env

log = logging.getLogger(__name__)

QUEUES_ENV = "ASSISTANT_WORKER_QUEUES"
NAME_ENV = "ASSISTANT_WORKER_NAME"


@dataclass
class WorkerRuntime:
    """Everything a pool process needs to run tasks; built once per process."""

    settings: Settings
    queues: list[str]
    encoders: LoadedEncoders = field(init=False)
    blobs: BlobStore = field(init=False)
    embedder: TextEmbedder = field(init=False)
    load_errors: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        registry = registry_for(self.settings)
        budget = threads.budget_here()
        for encoder in registry.encoders.values():
            encoder.threads = budget
        for name in skipped_from_env():  # over this GPU worker's memory budget (workers/gpu.py)
            registry.encoders.pop(name, None)
        self.encoders = LoadedEncoders(registry)
        self.blobs = BlobStore(self.settings.storage.resolved_blob_url())
        self.embedder = TextEmbedder(batch_size=self.settings.retrieval.embedding_model_batch)

    def hosted(self) -> list[str]:
        """Names of the encoders whose queue this worker consumes."""
        registry = self.encoders.registry
        return sorted(n for n, e in registry.encoders.items() if e.queue in self.queues)

    def preload(self) -> list[str]:
        loaded = []
        for name in self.hosted():
            try:
                self.encoders.get(name)
                loaded.append(name)
            except Exception as exc:  # reported per task and in the heartbeat, not fatal
                log.exception("encoder %s failed to load", name)
                self.load_errors[name] = str(exc)
        if names.TEXT_QUEUE in self.queues:
            self.embedder.load()
            loaded.append("text-embedder")
        return loaded


_runtime: WorkerRuntime | None = None
_runtime_lock = threading.Lock()


def runtime() -> WorkerRuntime:
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            queues = names.parse_queues(os.environ.get(QUEUES_ENV, ""))
            _runtime = WorkerRuntime(get_settings(), queues)
        return _runtime


def _redis(settings: Settings) -> Any:
    import redis

    return redis.Redis.from_url(settings.workers.redis_url or "redis://127.0.0.1:6379/0")


def heartbeat_key(node: str) -> str:
    return f"{names.HEARTBEAT_PREFIX}{node}"


@worker_process_init.connect
def _load_in_child(**_: Any) -> None:
    rt = runtime()
    tracing.setup_tracing(rt.settings.tracing, service="worker")  # per pool process
    started = time.perf_counter()
    loaded = rt.preload()
    threads.apply_here()
    log.info(
        "pool process %d loaded %s in %.1f s", os.getpid(), loaded, time.perf_counter() - started
    )
    node = os.environ.get(NAME_ENV)
    if node:
        try:
            client = _redis(rt.settings)
            key = heartbeat_key(node)
            client.hset(key, f"loaded:{os.getpid()}", json.dumps(loaded))
            client.expire(key, names.HEARTBEAT_TTL_S)
        except Exception:  # the heartbeat thread will retry; loading succeeded anyway
            log.warning("could not report loaded encoders", exc_info=True)


class _MainThreads:
    def __init__(self) -> None:
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, sender: Any) -> None:
        settings = get_settings()
        node = os.environ.get(NAME_ENV) or getattr(sender, "hostname", "") or "worker"
        queues = names.parse_queues(os.environ.get(QUEUES_ENV, ""))
        concurrency = getattr(getattr(sender, "controller", None), "concurrency", None)
        for target, args in (
            (self._heartbeat, (settings, node, queues, concurrency)),
            (self._keep_visible, (settings,)),
        ):
            thread = threading.Thread(target=target, args=args, daemon=True, name=target.__name__)
            thread.start()
            self.threads.append(thread)

    def _heartbeat(
        self, settings: Settings, node: str, queues: list[str], concurrency: int | None
    ) -> None:
        client = _redis(settings)
        key = heartbeat_key(node)
        while not self.stop.is_set():
            try:
                client.hset(
                    key,
                    mapping={
                        "node": node,
                        "pid": os.getpid(),
                        "queues": json.dumps(queues),
                        "concurrency": concurrency or 0,
                        "ts": time.time(),
                    },
                )
                client.expire(key, names.HEARTBEAT_TTL_S)
            except Exception:
                log.warning("heartbeat failed", exc_info=True)
            self.stop.wait(5.0)
        with contextlib.suppress(Exception):
            client.delete(key)

    def _keep_visible(self, settings: Settings) -> None:
        from celery.worker import state

        client = _redis(settings)
        prefix = str(settings_transport(settings).get("global_keyprefix", ""))
        index = f"{prefix}unacked_index"
        interval = max(1.0, settings.workers.visibility_timeout_s / 4)
        while not self.stop.wait(interval):
            try:
                requests = list(state.requests.values())
            except RuntimeError:  # changed size while copying; next round
                continue
            tags = []
            for request in requests:
                try:
                    tags.append(request.message.delivery_tag)
                except AttributeError:
                    continue
            if not tags:
                continue
            try:
                client.zadd(index, dict.fromkeys(tags, time.time()), xx=True)
            except Exception:
                log.warning("could not refresh message visibility", exc_info=True)


def settings_transport(settings: Settings) -> dict[str, Any]:
    return dict(make_celery(settings).conf.broker_transport_options or {})


_threads = _MainThreads()

# request id, job id and trace context from the task headers (propagation.py) ----------------
_active: dict[str, tuple[Any, Any]] = {}


@task_prerun.connect
def _enter_task(task_id: str = "", task: Any = None, **_: Any) -> None:
    request = getattr(task, "request", None)
    tokens = propagation.enter(request)
    queue = (getattr(request, "delivery_info", None) or {}).get("routing_key")
    span = tracing.start_task_span(
        f"celery.run {getattr(task, 'name', '?')}",
        propagation.headers_of(request),
        **{"messaging.message.id": task_id, "messaging.destination.name": str(queue)},
    )
    _active[task_id] = (tokens, span)
    log.info(
        "task %s started", getattr(task, "name", "?"), extra={"task_id": task_id, "queue": queue}
    )


@task_postrun.connect
def _leave_task(task_id: str = "", state: str | None = None, **_: Any) -> None:
    tokens, span = _active.pop(task_id, (None, None))
    tracing.end_task_span(span, state)
    log.info("task finished: %s", state, extra={"task_id": task_id})
    if tokens is not None:
        propagation.leave(tokens)


@worker_ready.connect
def _on_ready(sender: Any = None, **_: Any) -> None:
    _threads.start(sender)


@worker_shutdown.connect
def _on_shutdown(**_: Any) -> None:
    _threads.stop.set()
