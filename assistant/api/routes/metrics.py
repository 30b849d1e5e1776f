"""GET /metrics (Prometheus text format) and the HTTP metrics middleware.

Unauthenticated, like most exporters: bind it to an internal network or scrape through a proxy.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from assistant import metrics
from assistant.services import Services

log = logging.getLogger(__name__)
router = APIRouter(tags=["meta"])


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is not None:
        try:
            await services.dispatch.refresh_metrics()  # queue and worker gauges, from Redis
        except Exception as exc:
            log.warning("queue metrics unavailable: %s", exc)
    registry = metrics.multiprocess_registry()  # uvicorn --workers N: every process's series
    body = generate_latest(registry) if registry is not None else generate_latest()
    return Response(body, media_type=CONTENT_TYPE_LATEST)


class HTTPMetrics:
    """Pure ASGI middleware: request counts and latency by method, route template and status."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            metrics.HTTP_REQUESTS.labels(method, path, str(status["code"])).inc()
            metrics.HTTP_LATENCY.labels(method, path).observe(time.perf_counter() - started)
