"""Encoding through Celery workers, with the exact shape of ``InProcessDispatch``.

``CeleryDispatch(tenant, items)`` puts each attachment's bytes in the blob store (unless the
item already carries a blob reference), sends one encode task per batch to the encoder's queue
with the references and content hashes, and awaits the results on the event loop (bounded by
``workers.result_timeout_s``). Error payloads become the AssistantError subclasses the worker
reported, so a 4xx stays a 4xx.

Micro-batching happens here, on the dispatching side (a worker with prefetch 1 cannot gather
messages): ``_Batcher`` collects the items for one encoder and sends them as one task

- at once when a full batch (``encoder.default_batch_size``) is ready;
- at once when fewer tasks of that kind are in flight than there are worker processes
  consuming its queue (an idle system pays no wait);
- otherwise (every consumer busy) when a task of that kind returns, or after
  ``workers.batch_window_ms`` at the latest.
So batches form exactly when the workers are saturated, across concurrent API requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from assistant import metrics, tracing
from assistant.blobs import BlobRef, BlobStore
from assistant.config import Settings
from assistant.errors import AssistantError, EncoderFailed, ServiceUnavailable
from assistant.logs import job_id
from assistant.plugins.contract import Encoding, MediaItem
from assistant.plugins.registry import Registry
from workers import context as propagation
from workers import names
from workers.encode import error_from_payload, item_payload, result_from_payload, unpack_vectors
from workers.results import ResultListener

log = logging.getLogger(__name__)

# task ids sent on behalf of the current job (jobs set it so they can revoke on cancel)
task_sink: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "assistant_task_sink", default=None
)


@dataclass
class _Entry:
    payload: Any
    future: asyncio.Future[Any]
    sink: list[str] | None
    carrier: dict[str, str]  # request/job ids and traceparent of the submitter


SendBatch = Callable[[list[_Entry]], Awaitable[list[Any]]]


class _Batcher:
    def __init__(
        self,
        send: SendBatch,
        max_batch: int,
        window_s: float,
        parallelism: Callable[[], int],
    ):
        self.send = send
        self.max_batch = max(1, max_batch)
        self.window_s = window_s
        self.parallelism = parallelism
        self.pending: list[_Entry] = []
        self.inflight = 0
        self._timer: asyncio.TimerHandle | None = None

    def submit(self, payloads: Sequence[Any]) -> list[asyncio.Future[Any]]:
        loop = asyncio.get_running_loop()
        sink = task_sink.get()
        carrier = propagation.capture()
        entries = [_Entry(p, loop.create_future(), sink, carrier) for p in payloads]
        self.pending.extend(entries)
        self._pump()
        return [e.future for e in entries]

    def _pump(self, timer: bool = False) -> None:
        self.pending = [e for e in self.pending if not e.future.done()]  # drop cancelled
        while len(self.pending) >= self.max_batch:
            self._flush(self.max_batch)
        if not self.pending:
            self._cancel_timer()
            return
        if timer or self.window_s <= 0 or self.inflight < self.parallelism():
            self._flush(len(self.pending))
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.window_s, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._pump(timer=True)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _flush(self, n: int) -> None:
        batch, self.pending = self.pending[:n], self.pending[n:]
        if not self.pending:
            self._cancel_timer()
        self.inflight += 1
        asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[_Entry]) -> None:
        try:
            results = await self.send(batch)
        except BaseException as exc:
            results = [exc] * len(batch)
        finally:
            self.inflight -= 1
        for entry, result in zip(batch, results, strict=True):
            if entry.future.done():
                continue
            if isinstance(result, BaseException):
                entry.future.set_exception(result)
            else:
                entry.future.set_result(result)
        self._pump()


class CeleryClient:
    """The API side of the broker: send, await, revoke, probe. One per Services."""

    def __init__(self, settings: Settings):
        from workers.app import make_celery

        self.settings = settings
        self.url = settings.workers.redis_url
        if not self.url:
            raise ServiceUnavailable("workers.redis_url is not set")
        self.celery = make_celery(settings, name="assistant-api")
        self.timeout = settings.workers.result_timeout_s
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
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send a task and await its result (raises what the task raised).

        ``headers``: request/job ids and traceparent (workers/context.py); default: the
        current context's."""
        task_id = uuid.uuid4().hex
        for sink in sinks:
            if sink is not None:
                sink.append(task_id)
        try:
            future = await self.listener().expect(task_id)
        except Exception as exc:  # Redis down: the result channel cannot be subscribed
            metrics.TASKS.labels(task, queue, "not_sent").inc()
            raise ServiceUnavailable(f"the task queue is unavailable: {exc}") from exc
        started = time.perf_counter()
        headers = dict(headers) if headers is not None else propagation.capture()
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
                )
        except Exception as exc:
            future.cancel()
            metrics.TASKS.labels(task, queue, "not_sent").inc()
            raise ServiceUnavailable(f"the task queue is unavailable: {exc}") from exc
        try:
            meta = await asyncio.wait_for(asyncio.shield(future), timeout or self.timeout)
        except TimeoutError:
            future.cancel()
            await self.revoke([task_id])
            metrics.TASKS.labels(task, queue, "timeout").inc()
            raise ServiceUnavailable(
                f"no worker finished the {queue} task within {timeout or self.timeout:.0f} s"
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
            raise asyncio.CancelledError(f"task {task_id} was revoked")
        error = self.celery.backend.exception_to_python(meta.get("result"))
        if isinstance(error, AssistantError):
            raise error
        raise EncoderFailed(f"the {queue} task failed: {error}")

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
            import redis

            from assistant.metrics import worker_heartbeats

            client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
            try:
                capacity: dict[str, int] = {}
                for data in worker_heartbeats(client).values():
                    for q in json.loads(data.get("queues", "[]")):
                        capacity[q] = capacity.get(q, 0) + max(1, int(data.get("concurrency") or 1))
                self._capacity = capacity
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


class CeleryDispatch:
    """The orchestrator's EncodeDispatch, through Celery workers."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        blobs: BlobStore,
        client: CeleryClient | None = None,
        batch_window_ms: float | None = None,
    ):
        self.settings = settings
        self.registry = registry
        self.blobs = blobs
        self.client = client or CeleryClient(settings)
        self.device = settings.plugins.device
        window = settings.workers.batch_window_ms if batch_window_ms is None else batch_window_ms
        self.window_s = window / 1000.0
        self._batchers: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, _Batcher]
        ] = weakref.WeakKeyDictionary()

    def _batcher(self, encoder: str) -> _Batcher:
        per_loop = self._batchers.setdefault(asyncio.get_running_loop(), {})
        batcher = per_loop.get(encoder)
        if batcher is None:
            enc = self.registry.encoders[encoder]
            queue = enc.queue

            async def send(batch: list[_Entry]) -> list[Any]:
                out = await self.client.call(
                    names.TASK_ENCODE,
                    {"encoder": encoder, "items": [e.payload for e in batch], "options": {}},
                    queue,
                    sinks=[e.sink for e in batch],
                    headers=propagation.merge([e.carrier for e in batch]),
                )
                metrics.TASK_DURATION.labels("encode", queue, encoder).observe(out["elapsed_s"])
                metrics.TASK_BATCH.labels("encode", queue).observe(len(batch))
                return [result_from_payload(r) for r in out["results"]]

            batcher = per_loop[encoder] = _Batcher(
                send, enc.default_batch_size, self.window_s, lambda: self.client.parallelism(queue)
            )
        return batcher

    async def _reference(self, tenant: str, item: MediaItem) -> BlobRef:
        blob = item.metadata.get("blob")
        if isinstance(blob, dict):
            return BlobRef.from_dict(blob)
        return await asyncio.to_thread(
            lambda: self.blobs.put_bytes(tenant, item.path.read_bytes(), item.path.suffix)
        )

    async def __call__(
        self, tenant: str, items: Sequence[MediaItem]
    ) -> list[Encoding | BaseException]:
        results: list[Encoding | BaseException | None] = [None] * len(items)
        waiting: list[tuple[int, asyncio.Future[Any]]] = []
        for index, item in enumerate(items):
            try:
                encoder = self.registry.encoder_for(item.media_type, self.device)
                ref = await self._reference(tenant, item)
            except AssistantError as exc:
                results[index] = exc
                continue
            except OSError as exc:
                results[index] = EncoderFailed(f"could not stage {item.display_name}: {exc}")
                continue
            if job_id.get() is None and not self.client.has_worker(encoder.queue):
                # an interactive request should not wait minutes for a worker that may never
                # come; jobs (job_id set) queue and finish once a worker is back
                results[index] = ServiceUnavailable(
                    f"no worker is serving the {encoder.queue} queue right now; try again "
                    "shortly, or send the file as a job (POST /v1/jobs)"
                )
                continue
            payload = item_payload(ref, item.media_type, item.display_name)
            [future] = self._batcher(encoder.name).submit([payload])
            waiting.append((index, future))
        try:
            outcomes = await asyncio.gather(*(f for _, f in waiting), return_exceptions=True)
        except asyncio.CancelledError:
            for _, f in waiting:
                f.cancel()
            raise
        for (index, _), outcome in zip(waiting, outcomes, strict=True):
            results[index] = outcome
        return [r if r is not None else EncoderFailed("not encoded") for r in results]


class CeleryEmbedder:
    """Text embeddings on the ``cpu.text`` workers, micro-batched like the encoders."""

    def __init__(
        self,
        settings: Settings,
        client: CeleryClient | None = None,
        batch_window_ms: float | None = None,
        max_batch: int | None = None,
    ):
        self.client = client or CeleryClient(settings)
        window = settings.workers.batch_window_ms if batch_window_ms is None else batch_window_ms
        self.window_s = window / 1000.0
        self.max_batch = max_batch or settings.retrieval.embedding_batch_size
        self._batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Batcher] = (
            weakref.WeakKeyDictionary()
        )

    def _batcher(self) -> _Batcher:
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:

            async def send(batch: list[_Entry]) -> list[Any]:
                out = await self.client.call(
                    names.TASK_EMBED,
                    {"texts": [e.payload for e in batch]},
                    names.TEXT_QUEUE,
                    sinks=[e.sink for e in batch],
                    headers=propagation.merge([e.carrier for e in batch]),
                )
                queue = names.TEXT_QUEUE
                metrics.TASK_DURATION.labels("embed", queue, "text").observe(out["elapsed_s"])
                metrics.TASK_BATCH.labels("embed", queue).observe(len(batch))
                return list(unpack_vectors(out["vectors"]))

            batcher = self._batchers[loop] = _Batcher(
                send,
                self.max_batch,
                self.window_s,
                lambda: self.client.parallelism(names.TEXT_QUEUE),
            )
        return batcher

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        futures = self._batcher().submit(list(texts))
        return list(await asyncio.gather(*futures))


__all__ = ["CeleryClient", "CeleryDispatch", "CeleryEmbedder", "error_from_payload", "task_sink"]
