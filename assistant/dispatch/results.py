"""Awaiting Celery results on the event loop, without a thread per waiting task.

The Redis result backend SETs ``celery-task-meta-{id}`` and PUBLISHes the same payload on a
channel of that name. One pub/sub connection per event loop names the tasks it sends with a
prefix of its own (``new_task_id``) and subscribes once, to the pattern of its prefix's
channels, before its first task is sent: a task costs no SUBSCRIBE before it is sent nor an
UNSUBSCRIBE after (a round trip each, the first one in front of every task), and another API
process's results, under its own prefix, never reach this connection. A future per task is
resolved when a final state arrives. A sweeper GETs the keys of long-pending tasks, which covers
a pub/sub reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from celery import Celery, states
from celery.backends.redis import RedisBackend

log = logging.getLogger(__name__)

KEY_PREFIX = "celery-task-meta-"
_KEEPALIVE_CHANNEL = "assistant:dispatch:keepalive"


class ResultListener:
    def __init__(
        self, redis_url: str, on_state: Callable[[str, dict[str, Any]], None] | None = None
    ) -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.Redis.from_url(redis_url, socket_connect_timeout=5)
        self.pubsub = self.redis.pubsub()
        self.pending: dict[str, tuple[asyncio.Future[dict[str, Any]], float]] = {}
        self.on_state = on_state
        # this listener's tasks: celery-task-meta-<prefix><uuid>, one pattern for all of them
        self.prefix = uuid.uuid4().hex[:12] + "."
        self._reader: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._started = asyncio.Lock()

    async def start(self) -> None:
        async with self._started:
            if self._reader is None:
                await self.pubsub.subscribe(_KEEPALIVE_CHANNEL)
                await self.pubsub.psubscribe(f"{KEY_PREFIX}{self.prefix}*")
                self._reader = asyncio.create_task(self._read(), name="celery-results")
                self._sweeper = asyncio.create_task(self._sweep(), name="celery-results-sweep")

    def new_task_id(self) -> str:
        """An id whose result channel this listener's pattern subscription already covers."""
        return self.prefix + uuid.uuid4().hex

    async def expect(self, task_id: str) -> asyncio.Future[dict[str, Any]]:
        """Await a task's result; call before sending the task. An id from ``new_task_id``
        needs no subscription of its own; any other gets one."""
        await self.start()
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[task_id] = (future, time.monotonic())
        if not task_id.startswith(self.prefix):
            await self.pubsub.subscribe(KEY_PREFIX + task_id)
        future.add_done_callback(lambda _: self._forget(task_id))
        return future

    def _forget(self, task_id: str) -> None:
        self.pending.pop(task_id, None)
        if not task_id.startswith(self.prefix):  # subscribed by itself in expect()
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().create_task(self._unsubscribe(task_id))

    async def _unsubscribe(self, task_id: str) -> None:
        with contextlib.suppress(Exception):
            await self.pubsub.unsubscribe(KEY_PREFIX + task_id)

    def _deliver(self, task_id: str, raw: bytes | str) -> None:
        try:
            meta = json.loads(raw)
        except (TypeError, ValueError):
            return
        status = meta.get("status")
        if self.on_state is not None:
            with contextlib.suppress(Exception):
                self.on_state(task_id, meta)
        if status not in states.READY_STATES:
            return
        entry = self.pending.get(task_id)
        if entry is not None and not entry[0].done():
            entry[0].set_result(meta)

    async def _read(self) -> None:
        while True:
            try:
                message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("result listener lost its connection; reconnecting", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            if not message or message.get("type") not in ("message", "pmessage"):
                continue
            channel = message["channel"]
            channel = channel.decode() if isinstance(channel, bytes) else str(channel)
            if channel.startswith(KEY_PREFIX):
                self._deliver(channel[len(KEY_PREFIX) :], message["data"])

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            stale = [tid for tid, (f, since) in list(self.pending.items()) if now - since > 2.0]
            if not stale:
                continue
            try:
                values = await self.redis.mget([KEY_PREFIX + t for t in stale])
            except Exception:  # Redis away: the reader logs it; try again next round
                log.debug("result sweep could not read Redis", exc_info=True)
                continue
            for task_id, value in zip(stale, values, strict=True):
                if value is not None:
                    self._deliver(task_id, value)

    async def close(self) -> None:
        for task in (self._reader, self._sweeper):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._reader = self._sweeper = None
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()  # type: ignore[no-untyped-call]
        with contextlib.suppress(Exception):
            await self.redis.aclose()


class ListenedRedisBackend(RedisBackend):  # type: ignore[misc]
    """The API's result backend: results are awaited by ResultListener, not by Celery.

    Celery's Redis backend SUBSCRIBEs to a task's channel on every send and UNSUBSCRIBEs when
    the returned AsyncResult is collected (on the event loop's thread, blocking it for a round
    trip). That subscription is never read here: two Redis round trips per task for nothing,
    and every result copied into a buffer nobody drains."""

    def on_task_call(self, producer: Any, task_id: str) -> None:  # noqa: ARG002 - Celery calls it so
        return None

    def remove_pending_result(self, result: Any) -> Any:
        return result


class ListenedCelery(Celery):  # type: ignore[misc]
    """A Celery app whose results arrive through ResultListener (see ListenedRedisBackend)."""

    # Celery builds a backend per thread here; ``backend_cls`` would drop the URL (celery is
    # pinned, and tests/system/workers/test_dispatch.py counts the subscriptions per task)
    def _get_backend(self) -> ListenedRedisBackend:
        return ListenedRedisBackend(app=self, url=self.conf.result_backend)
