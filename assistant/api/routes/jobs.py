"""The async job API: POST /v1/jobs (202), GET /v1/jobs[/{id}], GET /v1/jobs/{id}/events (SSE),
DELETE /v1/jobs/{id} (cancel). Jobs are tenant-scoped: another tenant's id is a 404.

The router's lifespan starts the job scanner (resumes jobs an earlier API process left behind)
and registers a workers readiness check; it runs inside the app's lifespan (after Services).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette.sse import EventSourceResponse

from assistant.api.deps import PrincipalDep, ServicesDep
from assistant.jobs.models import JOB_STATES, TERMINAL
from assistant.jobs.runner import WebhookInput, job_manager


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    services = getattr(app.state, "services", None)
    manager = None
    if services is not None:
        manager = job_manager(services)
        manager.start_scanner()
        client = getattr(services.orchestrator.dispatch, "client", None)
        if client is not None:
            services.extras.setdefault("readiness", {})["workers"] = lambda: _workers_ready(client)
    try:
        yield
    finally:
        if manager is not None:
            await manager.aclose()
        client = getattr(getattr(services, "orchestrator", None), "dispatch", None)
        close = getattr(getattr(client, "client", None), "aclose", None)
        if close is not None:
            with contextlib.suppress(Exception):
                await close()


def _workers_ready(client: Any) -> None:
    """Every encoder queue has a live worker (heartbeat within 30 s)."""
    import redis

    from assistant.errors import ServiceUnavailable
    from assistant.metrics import worker_heartbeats

    conn = redis.Redis.from_url(client.url, socket_timeout=2, socket_connect_timeout=2)
    try:
        served = {
            q for d in worker_heartbeats(conn).values() for q in json.loads(d.get("queues", "[]"))
        }
    finally:
        conn.close()
    if not served:
        raise ServiceUnavailable("no worker is connected to the broker")


router = APIRouter(tags=["jobs"], lifespan=lifespan)


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["ingest", "analyse", "chat"]
    input: dict[str, Any] = Field(default_factory=dict)
    webhook: WebhookInput | None = None


@router.post("/v1/jobs", status_code=202)
async def create_job(
    body: JobRequest, principal: PrincipalDep, services: ServicesDep
) -> JSONResponse:
    manager = job_manager(services)
    job = await manager.submit(principal.tenant, body.kind, body.input, body.webhook)
    return JSONResponse(job.public(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


@router.get("/v1/jobs")
async def list_jobs(
    principal: PrincipalDep, services: ServicesDep, state: str | None = None, limit: int = 100
) -> dict[str, Any]:
    from assistant.errors import InvalidRequest

    if state is not None and state not in JOB_STATES:
        raise InvalidRequest(f"state must be one of {', '.join(JOB_STATES)}", param="state")
    manager = job_manager(services)
    jobs = await asyncio.to_thread(
        manager.store.list, principal.tenant, state, max(1, min(limit, 1000))
    )
    return {"object": "list", "data": [j.public() for j in jobs]}


@router.get("/v1/jobs/{job_id}")
async def get_job(job_id: str, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    job = await asyncio.to_thread(job_manager(services).get, principal.tenant, job_id)
    return job.public()


@router.delete("/v1/jobs/{job_id}")
async def cancel_job(job_id: str, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    job = await job_manager(services).cancel(principal.tenant, job_id)
    return job.public()


@router.get("/v1/jobs/{job_id}/events")
async def job_events(
    job_id: str, request: Request, principal: PrincipalDep, services: ServicesDep
) -> EventSourceResponse:
    manager = job_manager(services)
    await asyncio.to_thread(manager.get, principal.tenant, job_id)  # 404 before streaming

    async def events() -> AsyncIterator[dict[str, str]]:
        last = None
        while True:
            job = await asyncio.to_thread(manager.get, principal.tenant, job_id)
            view = job.public()
            snapshot = json.dumps([view["state"], view["progress"]], sort_keys=True)
            if snapshot != last:
                last = snapshot
                yield {"event": "job", "data": json.dumps(view)}
            if job.state in TERMINAL or await request.is_disconnected():
                return
            # local jobs notify at once; jobs run by another API process are polled
            await manager.wait_change(job_id, 1.0)

    return EventSourceResponse(events(), ping=15)
