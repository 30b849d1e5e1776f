"""A bare Celery app with one no-op task and the project's reliability settings (late acks,
prefetch 1, JSON): the floor a Celery round trip costs on this machine, which
``bench_workers.py`` measures beside the project's dispatch (same Redis, a prefork pool of 2).

    BENCH_REDIS_URL=redis://... python -m celery -A bench.noop_celery worker -Q bench.noop
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

QUEUE = "bench.noop"
_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")

app = Celery("bench-noop", broker=_URL, backend=_URL, set_as_current=False)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
)


def use_redis(url: str) -> None:
    """Point the sending side at the bench's Redis (before its first task)."""
    app.conf.update(broker_url=url, result_backend=url)


@app.task(name="bench.noop")
def noop(**kwargs: Any) -> dict[str, Any]:
    return {"ok": True, "keys": sorted(kwargs)}
