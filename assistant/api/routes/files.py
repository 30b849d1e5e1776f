"""POST/GET/DELETE /v1/files (and GET .../content): uploads chat messages reference by id."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Response, UploadFile

from assistant.api.deps import PrincipalDep, ServicesDep
from assistant.api.uploads import read_upload
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
    data, name = await read_upload(file, services.settings.media.max_file_bytes)
    stored = await services.attachments.save_upload(
        principal.tenant, data, file.content_type, name, purpose
    )
    return _file(stored)


@router.get("/v1/files")
async def list_files(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    files = await asyncio.to_thread(services.db.list_files, principal.tenant)
    return {"object": "list", "data": [_file(f) for f in files]}


@router.get("/v1/files/{file_id}")
async def get_file(file_id: str, principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    return _file(await asyncio.to_thread(services.db.get_file, principal.tenant, file_id))


@router.get("/v1/files/{file_id}/content", response_class=Response)
async def file_content(file_id: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    data, media_type, name = await services.attachments.file_bytes(principal.tenant, file_id)
    return Response(
        data,
        media_type=media_type or "application/octet-stream",
        headers={
            # served for download, never rendered as a page of this origin
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox",
        },
    )


@router.delete("/v1/files/{file_id}")
async def delete_file(
    file_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    await services.attachments.delete_upload(principal.tenant, file_id)
    return {"id": file_id, "object": "file", "deleted": True}
