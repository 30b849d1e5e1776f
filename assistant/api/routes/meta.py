"""GET /v1/models, /healthz (liveness) and /readyz (dependencies)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from assistant.api.deps import PrincipalDep, ServicesDep
from assistant.errors import AssistantError

router = APIRouter(tags=["meta"])


@router.get("/v1/models")
async def list_models(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:  # noqa: ARG001 - the dependency authenticates the call
    ids = sorted(services.model_ids)
    return {
        "object": "list",
        "data": [{"id": i, "object": "model", "created": 0, "owned_by": "assistant"} for i in ids],
    }


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    checks: dict[str, str] = {}
    for name, probe in services.readiness().items():
        try:
            await probe()
            checks[name] = "ok"
        except AssistantError as exc:
            checks[name] = exc.message
        except Exception as exc:
            checks[name] = f"failed: {exc}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )
