"""Runs jobs in the API process; their encode/embed steps go to the workers.

One ``JobManager`` per Services (``services.jobs``), started and closed with them. A job is
claimed with a lease (renewed while it runs); a scanner claims queued jobs and running jobs whose lease expired, so
jobs left behind by a stopped or crashed API process are run again (their writes are
idempotent). Cancelling marks the row, cancels the local coroutine and revokes the Celery tasks
the job sent (``terminate=True`` stops one that already runs on a worker).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant import metrics
from assistant.dispatch.protocol import track_tasks
from assistant.errors import AssistantError, InvalidRequest, ServiceUnavailable
from assistant.jobs.kinds import KINDS, JobContext, JobKind
from assistant.jobs.models import TERMINAL, Job
from assistant.jobs.progress import Progress
from assistant.jobs.webhook import check_url, deliver
from assistant.logs import job_id as current_job_id

log = logging.getLogger(__name__)

LEASE_S = 30.0
# a job whose step finds a dependency unavailable (ServiceUnavailable) is released and run again
# by the scanner after a backoff, until workers.job_retry_for_s has passed since it was
# accepted; writes are idempotent


class WebhookInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2000)
    secret: str | None = Field(None, min_length=16, max_length=256)


class JobManager:
    def __init__(self, ctx: JobContext) -> None:
        self.ctx = ctx
        self.settings = ctx.settings
        self.store = ctx.store
        self.kinds: dict[str, JobKind] = dict(KINDS)  # this manager's (a test may swap one)
        self.owner = f"api-{uuid.uuid4().hex[:12]}"
        self.running: dict[str, asyncio.Task[None]] = {}
        self.changed: dict[str, asyncio.Event] = {}
        self._scanner: asyncio.Task[None] | None = None
        self.webhook_tasks: set[asyncio.Task[None]] = set()
        self._progress_writes: dict[str, asyncio.Task[None]] = {}

    # submit / read / cancel -----------------------------------------------------------

    async def submit(
        self, tenant: str, kind: str, data: dict[str, Any], webhook: WebhookInput | None
    ) -> Job:
        handler = self.kinds.get(kind)
        if handler is None:
            raise InvalidRequest(
                f"unknown job kind {kind!r}; use {', '.join(sorted(self.kinds))}", param="kind"
            )
        request = await handler.validate(self.ctx, tenant, data)
        fields: dict[str, Any] = {}
        if webhook is not None:
            await check_url(webhook.url, self.settings.media.url_allow_private)
            fields = {"webhook_url": webhook.url, "webhook_secret": webhook.secret}
        job = await asyncio.to_thread(self.store.create, tenant, kind, request, **fields)
        self.start(job.id)
        return job

    def get(self, tenant: str | None, job_id: str) -> Job:
        return self.store.get(tenant, job_id)

    async def cancel(self, tenant: str, job_id: str) -> Job:
        job = await asyncio.to_thread(self.store.get, tenant, job_id)
        if job.state in TERMINAL:
            return job
        finished = await asyncio.to_thread(
            self.store.finish,
            job_id,
            "cancelled",
            error={"message": "cancelled by request", "type": "cancelled", "code": "cancelled"},
        )
        task = self.running.get(job_id)
        if task is not None:
            task.cancel()
        await self._revoke(job.task_ids)
        if finished:
            metrics.JOBS.labels(job.kind, "cancelled").inc()
        job = await asyncio.to_thread(self.store.get, tenant, job_id)
        self._notify(job_id)
        self._webhook(job)
        return job

    async def _revoke(self, task_ids: list[Any]) -> None:
        if task_ids:
            with contextlib.suppress(Exception):
                await self.ctx.dispatch.revoke([str(t) for t in task_ids])

    # running --------------------------------------------------------------------------

    def start(self, job_id: str) -> None:
        if job_id in self.running:
            return
        task = asyncio.get_running_loop().create_task(self._run(job_id), name=f"job-{job_id}")
        self.running[job_id] = task
        task.add_done_callback(lambda _: self.running.pop(job_id, None))

    async def _run(self, job_id: str) -> None:
        if not await asyncio.to_thread(self.store.claim, job_id, self.owner, LEASE_S):
            return
        job = await asyncio.to_thread(self.store.get, None, job_id)
        self._notify(job_id)
        with track_tasks() as sink:
            await self._run_claimed(job, sink)

    def retry_delay(self, job: Job) -> float | None:
        """Seconds until a job whose dependency is away runs again, or None once the retry
        budget (``workers.job_retry_for_s`` since it was accepted) is spent."""
        w = self.ctx.settings.workers
        created = job.created_at if job.created_at.tzinfo else job.created_at.replace(tzinfo=UTC)
        if (datetime.now(UTC) - created).total_seconds() >= w.job_retry_for_s:
            return None
        exponent = min(max(job.attempts - 1, 0), 30)
        return float(min(w.job_retry_max_backoff_s, w.job_retry_backoff_s * 2**exponent))

    async def _run_claimed(self, job: Job, sink: list[str]) -> None:
        job_id = job.id
        current_job_id.set(job_id)  # this task's own context: log lines and task headers carry it
        kind = self.kinds[job.kind]
        progress = Progress(self.save_progress, job_id)
        renew = asyncio.get_running_loop().create_task(self._renew(job_id, sink))
        state, result, error = "failed", None, None
        try:
            result = await kind.run(self.ctx, job, progress)
            state = "succeeded"
        except asyncio.CancelledError:
            renew.cancel()
            self._progress_writes.pop(job_id, None)
            await self._revoke(sink)
            raise
        except AssistantError as exc:
            delay = self.retry_delay(job) if isinstance(exc, ServiceUnavailable) else None
            if delay is not None:
                # Redis, workers or Chroma away: run it again later
                renew.cancel()
                await self._flush_progress(job_id)
                log.warning(
                    "job %s put back (attempt %s, again in %.0f s): %s",
                    job_id,
                    job.attempts,
                    delay,
                    exc.message,
                )
                await asyncio.to_thread(self.store.release, job_id, self.owner, delay)
                self._notify(job_id)
                return
            message = exc.message
            if isinstance(exc, ServiceUnavailable):
                budget = self.ctx.settings.workers.job_retry_for_s
                message = f"still unavailable {budget:.0f} s after the job was accepted: {message}"
            error = {
                "message": message,
                "type": exc.type,
                "code": exc.code,
                "status": exc.status,
            }
        except Exception as exc:
            log.exception("job %s failed", job_id)
            error = {
                "message": str(exc),
                "type": "server_error",
                "code": "internal_error",
                "status": 500,
            }
        finally:
            renew.cancel()
        await self._flush_progress(job_id)  # the final progress is written before the state
        if not kind.finishes_itself or state != "succeeded":
            finished = await asyncio.to_thread(
                self.store.finish, job_id, state, result=result, error=error
            )
        else:
            finished = True
        if finished:
            metrics.JOBS.labels(job.kind, state).inc()
            await asyncio.to_thread(self.store.update, job_id, task_ids=list(sink))
        final = await asyncio.to_thread(self.store.get, None, job_id)
        self._notify(job_id)
        if finished:
            self._webhook(final)

    async def _renew(self, job_id: str, sink: list[str]) -> None:
        saved = 0
        while True:
            await asyncio.sleep(min(5.0, LEASE_S / 3))
            await asyncio.to_thread(self.store.renew, job_id, self.owner, LEASE_S)
            if len(sink) != saved:
                saved = len(sink)
                await asyncio.to_thread(self.store.update, job_id, task_ids=list(sink))

    def save_progress(self, job_id: str, stages: dict[str, dict[str, Any]]) -> None:
        """Save a snapshot without blocking the job; writes of one job stay in order, so an
        older snapshot never lands after a newer one."""
        snapshot = {k: dict(v) for k, v in stages.items()}
        previous = self._progress_writes.get(job_id)

        async def save() -> None:
            if previous is not None:
                with contextlib.suppress(BaseException):
                    await previous
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.store.update, job_id, progress=snapshot)
            self._notify(job_id)

        self._progress_writes[job_id] = asyncio.get_running_loop().create_task(save())

    async def _flush_progress(self, job_id: str) -> None:
        pending = self._progress_writes.pop(job_id, None)
        if pending is not None:
            with contextlib.suppress(BaseException):
                await pending

    def _notify(self, job_id: str) -> None:
        event = self.changed.get(job_id)
        if event is not None:
            event.set()

    async def wait_change(self, job_id: str, timeout: float) -> None:
        event = self.changed.setdefault(job_id, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        event.clear()

    def _webhook(self, job: Job) -> None:
        if not job.webhook_url:
            return
        secret = job.webhook_secret or self.settings.workers.webhook_secret.get_secret_value()
        if not secret:
            log.warning("job %s has a webhook but no secret; not sent", job.id)
            return
        url = job.webhook_url
        payload = {**job.public(), "webhook": None}

        async def send() -> None:
            status = await deliver(
                url, secret, payload, allow_private=self.settings.media.url_allow_private
            )
            await asyncio.to_thread(self.store.update, job.id, webhook_status=status[:64])

        task = asyncio.get_running_loop().create_task(send())
        self.webhook_tasks.add(task)
        task.add_done_callback(self.webhook_tasks.discard)

    # lifecycle ------------------------------------------------------------------------

    async def scan_once(self) -> None:
        for job_id in await asyncio.to_thread(self.store.claimable):
            self.start(job_id)

    async def _scan(self, interval: float) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.scan_once()
            await asyncio.sleep(interval)

    def start_scanner(self, interval: float = 5.0) -> None:
        if self._scanner is None:
            self._scanner = asyncio.get_running_loop().create_task(self._scan(interval))

    async def aclose(self) -> None:
        interrupted = list(self.running)
        tasks = [t for t in (self._scanner, *self.running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._scanner = None
        # interrupted jobs stay "running" with their lease ended now: the next API process
        # (or another one) claims them at once and runs them again (idempotent writes)
        for job_id in interrupted:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.store.release, job_id, self.owner, 0.0)
        for task in list(self.webhook_tasks):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), 5)
