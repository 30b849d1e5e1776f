"""POST/GET/DELETE /v1/files: uploads that chat messages reference by id (OpenAI's shape)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from assistant.api.deps import PrincipalDep, ServicesDep
from assistant.api.routes.documents import safe_name
from assistant.blobs import BlobRef
from assistant.errors import PayloadTooLarge
from assistant.media import sniff_media_type
from assistant.store import File as StoredFile

router = APIRouter(tags=["files"])


def _file(f: StoredFile) -> dict[str, Any]:
    return {
        "id": f.id,
        "object": "file",
        "bytes": f.bytes,
        "created_at": int(f.created_at.timestamp()),
        "filename": f.filename,
        "purpose": f.purpose,
        "media_type": f.media_type,
        "sha256": f.sha256,
    }


@router.post("/v1/files", status_code=201)
async def upload_file(
    principal: PrincipalDep,
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="audio, image, video or document")],
    purpose: Annotated[str, Form(max_length=64)] = "assistants",
) -> dict[str, Any]:
    limit = services.settings.media.max_file_bytes
    data = await file.read(limit + 1)
    name = safe_name(file.filename)
    if len(data) > limit:
        raise PayloadTooLarge(f"{name} is larger than the limit of {limit} bytes")
    media_type = sniff_media_type(data, file.content_type, name=name)
    ref, _ = await services.attachments.store(principal.tenant, data, media_type, name)
    stored = services.db.add_file(
        StoredFile(
            tenant=principal.tenant,
            filename=name,
            media_type=media_type,
            purpose=purpose,
            blob_key=ref.key,
            sha256=ref.sha256,
            bytes=ref.size,
        )
    )
    return _file(stored)


@router.get("/v1/files")
async def list_files(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    return {"object": "list", "data": [_file(f) for f in services.db.list_files(principal.tenant)]}


@router.get("/v1/files/{file_id}")
async def get_file(file_id: str, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    return _file(services.db.get_file(principal.tenant, file_id))


@router.delete("/v1/files/{file_id}")
async def delete_file(
    file_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    stored = services.db.delete_file(principal.tenant, file_id)
    # the blob is content-addressed and may be shared by another upload of the same bytes
    if not any(f.blob_key == stored.blob_key for f in services.db.list_files(principal.tenant)):
        ref = BlobRef(key=stored.blob_key, sha256=stored.sha256, size=stored.bytes)
        await asyncio.to_thread(services.blobs.delete, ref)
    return {"id": file_id, "object": "file", "deleted": True}
