"""The Celery app configuration, shared by both sides of the broker.

Workers build their app from the environment (``workers/app.py``); the API builds its own
client with ``make_celery(settings)``, so a Settings object given in code (tests) wins there.

Reliability settings (see the README's "Workers, queues" section):
- ``task_acks_late`` + ``task_reject_on_worker_lost``: a message is acknowledged only after its
  task finished; a pool child that dies puts it back at once.
- ``worker_prefetch_multiplier=1``: a busy worker does not sit on messages others could run.
- a SIGKILLed *main* worker process cannot requeue anything: its unacked messages come back
  after ``visibility_timeout`` (kept short: workers.visibility_timeout_s, 120 s by default),
  found by kombu's restore sweep, which runs every ``unacked_restore_interval`` seconds when
  ``unacked_restore_throttle`` is 1 (defaults 10 x 10 = ~100 s). So that a task running longer
  than the visibility timeout is not handed to a second worker meanwhile, each worker's main
  process keeps the visibility of the messages it holds fresh (workers/startup.py).
- prefork only: the ``solo`` pool ignores time limits.
"""

from __future__ import annotations

import time
from typing import Any

from celery import Celery
from celery.signals import before_task_publish

from assistant.config import Settings
from assistant.dispatch import names
from assistant.dispatch.propagation import stamp

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def restore_interval(settings: Settings) -> int:
    """Seconds between unacked-restore sweeps: a tenth of the visibility timeout, 1..10 s."""
    return max(1, min(10, settings.workers.visibility_timeout_s // 10))


def make_celery(
    settings: Settings, name: str = "assistant", app_class: type[Celery] = Celery
) -> Celery:
    url = settings.workers.redis_url or DEFAULT_REDIS_URL
    w = settings.workers
    celery = app_class(name, broker=url, backend=url, set_as_current=False)
    transport = {
        "visibility_timeout": w.visibility_timeout_s,
        "unacked_restore_interval": restore_interval(settings),
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": 5,
        "health_check_interval": 10,
    }
    celery.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=w.soft_time_limit_s,
        task_time_limit=w.time_limit_s,
        broker_transport_options=transport,
        result_backend_transport_options={"visibility_timeout": w.visibility_timeout_s},
        broker_connection_retry_on_startup=True,
        # after a broker outage the unacked messages are redelivered anyway: stop the copies
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # model loading happens in worker_process_init; the 4 s default would kill the child
        worker_proc_alive_timeout=300.0,
        # no STARTED state: nothing reads it (the API awaits the final state), and storing it
        # cost every task a GET and a SETEX+PUBLISH transaction before its body ran
        task_track_started=False,
        result_expires=3600,
        result_extended=False,
        task_default_queue=names.TEXT_QUEUE,
        task_routes={
            names.TASK_EMBED: {"queue": names.TEXT_QUEUE},
            # encode and ping are sent with an explicit queue (the encoder's, or the probed one)
        },
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    return celery


@before_task_publish.connect
def _stamp_enqueued_at(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Every message carries its enqueue time; /metrics reads it for the oldest-message age.

    It also carries the sender's request id, job id and traceparent (propagation.py)."""
    if headers is not None:
        headers.setdefault(names.ENQUEUED_AT_HEADER, time.time())
        stamp(headers)
