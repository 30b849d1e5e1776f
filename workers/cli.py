"""``assistant worker``: a prefork Celery worker hosting the encoders of some queues."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Sequence

from assistant.config import Settings
from workers import names
from workers.plugins import registry_for
from workers.startup import NAME_ENV, QUEUES_ENV


def resolve_queues(settings: Settings, queues: str, device: str | None) -> list[str]:
    if queues:
        return names.parse_queues(queues)
    registry = registry_for(settings)
    return names.all_queues(registry, device or "cpu")


def worker_argv(
    settings: Settings,
    queues: Sequence[str],
    concurrency: int | None,
    node: str,
    loglevel: str,
) -> list[str]:
    return [
        "worker",
        "--pool=prefork",  # never solo: it ignores time limits
        f"--queues={','.join(queues)}",
        f"--concurrency={concurrency or settings.workers.concurrency}",
        f"--hostname={node}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--prefetch-multiplier=1",
    ]


def run_worker(
    settings: Settings,
    queues: str = "",
    device: str | None = None,
    concurrency: int | None = None,
    name: str | None = None,
    loglevel: str | None = None,
) -> None:
    if not settings.workers.redis_url:
        raise SystemExit(
            "set ASSISTANT_WORKERS__REDIS_URL (redis://host:port/0); `assistant serve` starts an "
            "embedded Redis and worker by itself when it is unset"
        )
    chosen = resolve_queues(settings, queues, device)
    if not chosen:
        raise SystemExit("no queues to consume: no encoder plugin is installed for that device")
    slug = re.sub(r"[^a-z0-9]+", "-", "-".join(chosen).lower()).strip("-")[:40]
    node = name or f"{slug}-{os.getpid()}@{socket.gethostname()}"
    os.environ[QUEUES_ENV] = ",".join(chosen)
    os.environ[NAME_ENV] = node
    import workers.tasks  # noqa: F401  (registers the tasks)
    from workers.app import app

    app.worker_main(
        worker_argv(settings, chosen, concurrency, node, loglevel or settings.log_level)
    )
