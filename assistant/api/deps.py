"""FastAPI dependencies: services and the authenticated principal."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request

from assistant.api.guard import admit
from assistant.auth import Principal
from assistant.errors import AuthenticationFailed, PermissionDenied, ServiceUnavailable
from assistant.services import Services


def get_services(request: Request) -> Services:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        raise ServiceUnavailable("the assistant is still starting")
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def authenticate(request: Request, services: ServicesDep) -> Principal:
    """Who is calling (401 otherwise), then that key's rate and concurrency limits (429)."""
    principal = identify(request, services)
    admit(request, services, principal)
    return principal


def identify(request: Request, services: Services) -> Principal:
    settings = services.settings
    if not settings.api.auth_enabled:
        return Principal(tenant=settings.default_tenant, key_id="anonymous")
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationFailed(
            "missing API key: send it as 'Authorization: Bearer <key>'", code="missing_api_key"
        )
    token = token.strip()
    principal = services.security.key_resolver(token)  # hashed per-tenant keys first
    if principal is not None:
        return principal
    for key in settings.api.api_keys:
        if hmac.compare_digest(token.encode(), key.get_secret_value().encode()):
            key_id = hashlib.sha256(token.encode()).hexdigest()[:12]
            return Principal(tenant=settings.default_tenant, key_id=key_id, admin=True)
    raise AuthenticationFailed("invalid API key")


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.admin:
        raise PermissionDenied("this endpoint needs an admin API key")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]
