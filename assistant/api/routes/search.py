"""POST /v1/search: the knowledge base searched directly, by text, image or audio."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from assistant.api.deps import PrincipalDep, ServicesDep
from assistant.retrieval.search import SearchRequest

router = APIRouter(tags=["search"])


@router.post("/v1/search")
async def search(
    body: SearchRequest, request: Request, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    hits = await services.search.search(principal, body)
    base_url = str(request.base_url)
    return {"object": "list", "data": [h.payload(base_url) for h in hits]}
