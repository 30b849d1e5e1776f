"""The knowledge base: POST/GET/DELETE /v1/documents."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse

from assistant.api.deps import PrincipalDep, ServicesDep
from assistant.api.uploads import read_upload, safe_name
from assistant.errors import NotFound
from assistant.retrieval.ingest import document_id
from assistant.services import Services
from assistant.store import Document

router = APIRouter(tags=["documents"])


def _doc(d: Document) -> dict[str, Any]:
    return {
        "id": d.id,
        "object": "document",
        "source": d.source,
        "media_type": d.media_type,
        "chunks": d.chunks,
        "bytes": d.bytes,
        "sha256": d.sha256,
        "created_at": int(d.created_at.timestamp()),
    }


@router.post("/v1/documents", status_code=201)
async def upload_document(
    principal: PrincipalDep,
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="a text, Markdown, HTML or PDF file")],
    source: Annotated[
        str | None,
        Form(
            description="a name to cite; defaults to the file name. A document with the same "
            "name is replaced (the response says `replaced: true`)"
        ),
    ] = None,
) -> dict[str, Any]:
    data, name = await read_upload(file, services.settings.media.max_file_bytes)
    name = safe_name(source) if source else name
    # a document is known by its source name: the same name replaces the earlier document
    # (re-ingesting an edited file); give another `source` to keep two files apart
    replaces = await _exists(services, principal.tenant, document_id(principal.tenant, name))
    result = await services.ingest.ingest(principal.tenant, name, data, file.content_type)
    stored = await asyncio.to_thread(services.db.get_document, principal.tenant, result.document_id)
    return {**_doc(stored), "replaced": replaces}


async def _exists(services: Services, tenant: str, doc_id: str) -> bool:
    try:
        await asyncio.to_thread(services.db.get_document, tenant, doc_id)
    except NotFound:
        return False
    return True


@router.get("/v1/documents")
async def list_documents(principal: PrincipalDep, services: ServicesDep) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            _doc(d) for d in await asyncio.to_thread(services.db.list_documents, principal.tenant)
        ],
    }


@router.get("/v1/documents/{document_id}")
async def get_document(
    document_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    return _doc(await asyncio.to_thread(services.db.get_document, principal.tenant, document_id))


@router.get("/v1/documents/{document_id}/content", response_class=FileResponse)
async def document_content(
    document_id: str, principal: PrincipalDep, services: ServicesDep
) -> FileResponse:
    """A media document's file (ranges served, so a player can seek to a segment's ``#t=``)."""
    document, path = await services.ingest.original(principal.tenant, document_id)
    return FileResponse(
        path,
        media_type=document.media_type,
        content_disposition_type="inline",
        filename=document.source.rsplit("/", 1)[-1],
        # sniffed media, never a page of this origin
        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
    )


@router.get("/v1/documents/{document_id}/segments/{chunk}")
async def document_segment(
    document_id: str, chunk: int, request: Request, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """One indexed chunk or media segment: its text, time range or page, and links."""
    await asyncio.to_thread(services.db.get_document, principal.tenant, document_id)
    segment = await asyncio.to_thread(services.search.segment, principal.tenant, document_id, chunk)
    payload = segment.payload(str(request.base_url))
    payload.pop("score")
    return {**payload, "object": "document.segment", "text": segment.text}


@router.delete("/v1/documents/{document_id}")
async def delete_document(
    document_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    await asyncio.to_thread(services.ingestor.delete, principal.tenant, document_id)
    return {"id": document_id, "object": "document", "deleted": True}
