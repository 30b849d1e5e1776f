"""Key management for admins: POST/GET/DELETE /v1/admin/keys (403 for non-admin keys).

An admin key manages the keys of its own tenant. Admin keys of the default tenant (which
includes the keys in ``api.api_keys``) are operator keys and manage every tenant's keys.
A key of another tenant looks like no key (404). The plaintext of a new key is in the
response to POST and nowhere else.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from assistant.api.deps import AdminDep, ServicesDep
from assistant.audit import audit
from assistant.auth import Principal
from assistant.errors import PermissionDenied
from assistant.keys import KeyStore, check_tenant
from assistant.services import Services

router = APIRouter(tags=["admin"])


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: str | None = Field(None, description="defaults to the caller's tenant")
    name: str = Field("", max_length=200)
    admin: bool = False


def _store(services: Services) -> KeyStore:
    return services.security.key_store


def _operator(principal: Principal, services: Services) -> bool:
    return principal.admin and principal.tenant == services.settings.default_tenant


def _scope(principal: Principal, services: Services) -> str | None:
    """The tenant whose keys this admin may see and change; None = every tenant."""
    return None if _operator(principal, services) else principal.tenant


@router.post("/v1/admin/keys", status_code=201)
async def create_key(body: NewKey, principal: AdminDep, services: ServicesDep) -> dict[str, Any]:
    tenant = check_tenant(principal.tenant if body.tenant is None else body.tenant)
    scope = _scope(principal, services)
    if scope is not None and tenant != scope:
        raise PermissionDenied("this admin key can create keys only for its own tenant")
    row, token = await asyncio.to_thread(_store(services).create, tenant, body.name, body.admin)
    audit(
        "admin.key_create",
        key_id=principal.key_id,
        tenant=principal.tenant,
        target_key_id=row.id,
        target_tenant=row.tenant,
        admin=row.admin,
        actor="api",
    )
    return {**row.public(), "key": token}


@router.get("/v1/admin/keys")
async def list_keys(
    principal: AdminDep,
    services: ServicesDep,
    tenant: str | None = None,
    include_revoked: bool = False,
) -> dict[str, Any]:
    scope = _scope(principal, services)
    if scope is not None:
        tenant = scope  # a tenant admin sees its own tenant's keys, whatever it asks for
    rows = await asyncio.to_thread(_store(services).list, tenant, include_revoked)
    return {"object": "list", "data": [r.public() for r in rows]}


@router.delete("/v1/admin/keys/{key_id}")
async def revoke_key(key_id: str, principal: AdminDep, services: ServicesDep) -> dict[str, Any]:
    row = await asyncio.to_thread(_store(services).revoke, key_id, _scope(principal, services))
    services.security.invalidate_keys()
    audit(
        "admin.key_revoke",
        key_id=principal.key_id,
        tenant=principal.tenant,
        target_key_id=row.id,
        target_tenant=row.tenant,
        actor="api",
    )
    return {**row.public(), "revoked": True}
