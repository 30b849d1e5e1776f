"""The API side of the broker: send a task, await its result, revoke, probe the workers.

Results arrive through one pub/sub listener per event loop (``results.py``), not by polling the
result backend. Error payloads become the AssistantError subclasses the worker reported, so a
4xx stays a 4xx.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from assistant import metrics, tracing
from assistant.config import Settings
from assistant.dispatch import heartbeats, names, propagation
from assistant.dispatch.celery_app import make_celery
from assistant.dispatch.results import ListenedCelery, ResultListener
from assistant.errors import AssistantError, EncoderFailed, ServiceUnavailable
from assistant.logs import job_id

log = logging.getLogger(__name__)


def kwargs_summary(kwargs: dict[str, Any]) -> str:
    """What a task message shows of its arguments (monitoring tools and worker events read it):
    the encoder's name and how many items, never the texts or file names a person sent. Celery
    would write their repr, and computing it cost every send about 0.1 ms."""
    parts = []
    for name, value in kwargs.items():
        if isinstance(value, list | tuple | dict):
            parts.append(f"{name}=<{len(value)}>")
        elif isinstance(value, str | int | float | bool) or value is None:
            parts.append(f"{name}={str(value)[:64]}")
        else:
            parts.append(f"{name}=<{type(value).__name__}>")
    return ", ".join(parts)


class CeleryClient:
    """The API side of the broker: send, await, revoke, probe. One per Services."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.workers.redis_url
        if not self.url:
            raise ServiceUnavailable("workers.redis_url is not set")
        self.celery = make_celery(settings, name="assistant-api", app_class=ListenedCelery)
        self.timeout = settings.workers.result_timeout_s
        self.job_timeout = settings.workers.job_result_timeout_s
        self._listeners: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ResultListener] = (
            weakref.WeakKeyDictionary()
        )
        self._capacity: dict[str, int] = {}
        self._capacity_at = 0.0
        self._capacity_known = False
        self.state_hooks: list[Callable[[str, dict[str, Any]], None]] = []

    def _on_state(self, task_id: str, meta: dict[str, Any]) -> None:
        for hook in list(self.state_hooks):
            hook(task_id, meta)

    def listener(self) -> ResultListener:
        loop = asyncio.get_running_loop()
        listener = self._listeners.get(loop)
        if listener is None:
            listener = self._listeners[loop] = ResultListener(self.url, self._on_state)
        return listener

    async def call(
        self,
        task: str,
        kwargs: dict[str, Any],
        queue: str,
        sinks: Sequence[list[str] | None] = (),
        timeout: float | None = None,
        callers: Sequence[dict[str, str]] = (),
    ) -> Any:
        """Send a task and await its result (raises what the task raised).

        ``callers``: the propagation carriers (request/job ids, traceparent) of those the task
        serves, one per item of a micro-batch; default: the current context's. They make its
        headers and, unless ``timeout`` is given, how long it is awaited (``timeout_for``)."""
        listener = self.listener()
        task_id = listener.new_task_id()
        carriers = list(callers) or [propagation.capture()]
        headers = propagation.merge(carriers)
        if timeout is None:
            timeout = self.timeout_for(carriers)
        for sink in sinks:
            if sink is not None:
                sink.append(task_id)
        try:
            future = await listener.expect(task_id)
        except Exception as exc:  # Redis down: the result channel cannot be subscribed
            metrics.TASKS.labels(task, queue, "not_sent").inc()
            raise ServiceUnavailable(f"the task queue is unavailable: {exc}") from exc
        started = time.perf_counter()
        try:
            with tracing.span(
                f"celery.publish {task}",
                {"messaging.destination.name": queue, "messaging.message.id": task_id},
                parent=headers if "traceparent" in headers else None,
                kind="PRODUCER",
            ):
                tracing.inject(headers)  # the worker's span becomes a child of this one
                await asyncio.to_thread(
                    self.celery.send_task,
                    task,
                    kwargs=kwargs,
                    queue=queue,
                    task_id=task_id,
                    headers=headers,
                    argsrepr="()",
                    kwargsrepr=kwargs_summary(kwargs),
                )
        except Exception as exc:
            future.cancel()
            metrics.TASKS.labels(task, queue, "not_sent").inc()
            raise ServiceUnavailable(f"the task queue is unavailable: {exc}") from exc
        try:
            meta = await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            future.cancel()
            try:  # best effort: with the broker away the timeout, not the revoke, is the news
                await self.revoke([task_id])
            except Exception as exc:
                log.warning("could not revoke task %s after its timeout: %s", task_id, exc)
            metrics.TASKS.labels(task, queue, "timeout").inc()
            raise ServiceUnavailable(
                f"no worker finished the {queue} task within {timeout:.0f} s"
            ) from None
        except asyncio.CancelledError:
            future.cancel()
            raise
        metrics.TASK_ROUNDTRIP.labels(task, queue).observe(time.perf_counter() - started)
        status = meta.get("status")
        metrics.TASKS.labels(task, queue, str(status).lower()).inc()
        if status == "SUCCESS":
            return meta.get("result")
        if status == "REVOKED":
            # not a cancel this caller asked for (that cancels the awaiting coroutine first):
            # the worker lost its broker connection and terminated the late-ack task, or a
            # shared batch was revoked for someone else. The work was not done: retryable.
            raise ServiceUnavailable(
                f"the {queue} task was stopped before it finished (revoked); try again"
            )
        error = self.celery.backend.exception_to_python(meta.get("result"))
        if isinstance(error, AssistantError):
            raise error
        raise EncoderFailed(f"the {queue} task failed: {error}")

    def timeout_for(self, carriers: Sequence[dict[str, str]]) -> float:
        """How long to await a task serving these callers: a job's step may queue behind other
        jobs' work (``workers.job_result_timeout_s``); a task that also serves an interactive
        request gets that request's ``workers.result_timeout_s``."""
        if carriers and all(c.get(names.JOB_ID_HEADER) for c in carriers):
            return self.job_timeout
        return self.timeout

    async def revoke(self, task_ids: Sequence[str], terminate: bool = True) -> None:
        if task_ids:
            await asyncio.to_thread(
                self.celery.control.revoke, list(task_ids), terminate=terminate, signal="SIGTERM"
            )

    async def ping(self, queue: str, timeout: float = 60.0) -> dict[str, Any]:
        return dict(await self.call(names.TASK_PING, {}, queue, timeout=timeout))

    def _refresh_capacity(self) -> None:
        """Worker processes per queue, from the heartbeats (read at most every 10 s)."""
        now = time.monotonic()
        if now - self._capacity_at <= 10.0:
            return
        self._capacity_at = now
        try:
            client = heartbeats.connect(self.url, timeout=1.0)
            try:
                self._capacity = heartbeats.served_queues(heartbeats.worker_heartbeats(client))
                self._capacity_known = True
            finally:
                client.close()
        except Exception:
            self._capacity_known = False
            log.debug("could not read worker heartbeats", exc_info=True)

    def parallelism(self, queue: str) -> int:
        self._refresh_capacity()
        return max(1, self._capacity.get(queue, 1))

    def has_worker(self, queue: str) -> bool:
        """Whether a live worker consumes ``queue`` (True when heartbeats cannot be read:
        the send itself then reports what is wrong)."""
        self._refresh_capacity()
        if not self._capacity.get(queue):
            self._capacity_at = 0.0  # a worker that just started is seen on the next call
        return not self._capacity_known or bool(self._capacity.get(queue))

    def unserved(self, queue: str, alternative: str) -> ServiceUnavailable | None:
        """The 503 for an interactive request when no live worker consumes ``queue``.

        Such a request should not wait minutes for a worker that may never come; jobs (a job id
        in the context) queue and finish once a worker is back, so they get None."""
        if job_id.get() is not None or self.has_worker(queue):
            return None
        return ServiceUnavailable(
            f"no worker is serving the {queue} queue right now; try again shortly, or "
            f"{alternative} (POST /v1/jobs)"
        )

    def check_workers(self) -> None:
        """Readiness: some worker is connected to the broker (a heartbeat within 30 s)."""
        client = heartbeats.connect(self.url)
        try:
            served = heartbeats.served_queues(heartbeats.worker_heartbeats(client))
        finally:
            client.close()
        if not served:
            raise ServiceUnavailable("no worker is connected to the broker")

    async def aclose(self) -> None:
        listener = self._listeners.pop(asyncio.get_running_loop(), None)
        if listener is not None:
            await listener.close()
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Close the broker connections (producer pool, control, backend) of this client."""
        with contextlib.suppress(Exception):
            self.celery.close()
        with contextlib.suppress(Exception):
            self.celery.backend.client.connection_pool.disconnect()
