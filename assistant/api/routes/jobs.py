"""The async job API: POST /v1/jobs (202), GET /v1/jobs[/{id}], GET /v1/jobs/{id}/events (SSE),
DELETE /v1/jobs/{id} (cancel). Jobs are tenant-scoped: another tenant's id is a 404.

The job manager (``services.jobs``) is started and closed by the app's lifespan with the other
services; these routes only do HTTP.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator
from sse_starlette.sse import EventSourceResponse

from assistant.api.deps import PrincipalDep, ServicesDep
from assistant.errors import InvalidRequest
from assistant.jobs.kinds import KINDS
from assistant.jobs.models import JOB_STATES, TERMINAL
from assistant.jobs.runner import WebhookInput

router = APIRouter(tags=["jobs"])


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(json_schema_extra={"enum": list[JsonValue](sorted(KINDS))})
    input: dict[str, Any] = Field(default_factory=dict)
    webhook: WebhookInput | None = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}; use {', '.join(sorted(KINDS))}")
        return kind


@router.post("/v1/jobs", status_code=202)
async def create_job(
    body: JobRequest, principal: PrincipalDep, services: ServicesDep
) -> JSONResponse:
    manager = services.jobs
    job = await manager.submit(principal.tenant, body.kind, body.input, body.webhook)
    return JSONResponse(job.public(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


@router.get("/v1/jobs")
async def list_jobs(
    principal: PrincipalDep, services: ServicesDep, state: str | None = None, limit: int = 100
) -> dict[str, Any]:
    if state is not None and state not in JOB_STATES:
        raise InvalidRequest(f"state must be one of {', '.join(JOB_STATES)}", param="state")
    manager = services.jobs
    jobs = await asyncio.to_thread(
        manager.store.list, principal.tenant, state, max(1, min(limit, 1000))
    )
    return {"object": "list", "data": [j.public() for j in jobs]}


@router.get("/v1/jobs/{job_id}")
async def get_job(job_id: str, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    job = await asyncio.to_thread(services.jobs.get, principal.tenant, job_id)
    return job.public()


@router.delete("/v1/jobs/{job_id}")
async def cancel_job(job_id: str, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    job = await services.jobs.cancel(principal.tenant, job_id)
    return job.public()


@router.get("/v1/jobs/{job_id}/events")
async def job_events(
    job_id: str, request: Request, principal: PrincipalDep, services: ServicesDep
) -> EventSourceResponse:
    manager = services.jobs
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
