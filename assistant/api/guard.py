"""Per-request security plumbing: key limits, release of concurrency slots, the audit record.

``RequestGuard`` is pure ASGI middleware, outermost but for the body limit: it gives each HTTP
request a ``GuardContext`` in its scope, and when the response is finished (for a streamed
answer: after its last chunk) it releases the request's concurrency slot and writes one audit
record. ``admit`` is called by ``authenticate`` once the key is known: it applies the key's
rate and concurrency limits (429 with Retry-After) and records the principal for the audit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from assistant.audit import audit
from assistant.auth import Principal
from assistant.ratelimit import Release
from assistant.services import Services

log = logging.getLogger(__name__)

SCOPE_KEY = "assistant.guard"


@dataclass
class GuardContext:
    principal: Principal | None = None
    releases: list[Release] = field(default_factory=list)
    limited: bool = False


def admit(request: Request, services: Services, principal: Principal) -> None:
    """Apply the key's limits (raises RateLimited) and remember who is calling."""
    context: GuardContext | None = request.scope.get(SCOPE_KEY)
    if context is not None:
        if context.principal is not None:  # already admitted (dependency used twice)
            return
        context.principal = principal
    limiter = services.security.limiter
    if not limiter.enabled:
        return
    try:
        # without the middleware nothing would release a slot: rate limits only
        release = limiter.acquire(principal.key_id, concurrent=context is not None)
    except Exception:
        if context is not None:
            context.limited = True
        raise
    if context is not None:
        context.releases.append(release)


class RequestGuard:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        context = GuardContext()
        scope[SCOPE_KEY] = context
        status = {"code": 500}
        started = time.perf_counter()

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            for release in context.releases:
                try:
                    await asyncio.to_thread(release)
                except Exception as exc:
                    log.warning("releasing a request slot failed: %s", exc)
            self._audit(scope, context, status["code"], time.perf_counter() - started)

    @staticmethod
    def _audit(scope: dict[str, Any], context: GuardContext, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope.get("method", "GET")
        principal = context.principal
        if principal is not None:
            audit(
                "key.use",
                key_id=principal.key_id,
                tenant=principal.tenant,
                admin=principal.admin,
                method=method,
                route=route,
                status=status,
                limited=context.limited,
                duration_ms=round(seconds * 1000, 1),
            )
        elif status in (401, 403):
            audit("auth.failed", method=method, route=route, status=status)
