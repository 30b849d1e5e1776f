"""GET /v1/models, /healthz (liveness) and /readyz (dependencies)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from assistant.api.deps import PrincipalDep, ServicesDep
from assistant.errors import AssistantError, NotFound
from assistant.services import Services

router = APIRouter(tags=["meta"])


def _model(services: Services, model_id: str, kind: str) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": services.created,
        "owned_by": "assistant",
        "kind": kind,  # chat, embeddings or audio: which endpoint serves it
    }


@router.get("/v1/models")
async def list_models(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:  # noqa: ARG001 - the dependency authenticates the call
    models = services.served_models()
    return {"object": "list", "data": [_model(services, i, models[i]) for i in sorted(models)]}


@router.get("/v1/models/{model_id:path}")
async def get_model(
    model_id: str,
    principal: PrincipalDep,  # noqa: ARG001 - the dependency authenticates the call
    services: ServicesDep,
) -> dict[str, Any]:
    models = services.served_models()
    if model_id not in models:
        raise NotFound(
            f"the model {model_id!r} does not exist; see GET /v1/models",
            param="model",
            code="model_not_found",
        )
    return _model(services, model_id, models[model_id])


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
