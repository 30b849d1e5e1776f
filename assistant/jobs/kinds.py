"""What each job kind does. All Chroma and SQL writes happen here, in the API process."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from assistant.errors import AssistantError, EncoderFailed, InvalidRequest, ServiceUnavailable
from assistant.jobs.models import Job
from assistant.jobs.runner import INPUTS, AnalyseInput, IngestInput, Progress
from assistant.jobs.store import JobStore
from assistant.plugins.contract import Encoding
from assistant.store.db import add_messages


def _invalid(exc: ValidationError) -> InvalidRequest:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return InvalidRequest(f"input{'.' + where if where else ''}: {first['msg']}", param="input")


async def validate(services: Any, tenant: str, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """Check a job's input before it is queued (400 for bad input, 404 for unknown files)."""
    if kind == "chat":
        from assistant.api.routes.chat import _check_limits
        from assistant.api.schemas import ChatCompletionRequest

        try:
            body = ChatCompletionRequest.model_validate(data)
        except ValidationError as exc:
            raise _invalid(exc) from exc
        if body.stream:
            raise InvalidRequest(
                "a chat job cannot stream; poll the job or use events", param="input.stream"
            )
        _check_limits(body, services)
        if body.conversation_id:
            await asyncio.to_thread(services.db.get_conversation, tenant, body.conversation_id)
        return body.model_dump(mode="json", exclude_none=True)
    try:
        parsed = INPUTS[kind].model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from exc
    file_ids = (
        parsed.file_ids
        if isinstance(parsed, IngestInput)
        else [parsed.file_id]
        if isinstance(parsed, AnalyseInput) and parsed.file_id
        else []
    )
    for file_id in file_ids:
        await asyncio.to_thread(services.db.get_file, tenant, file_id)  # 404 for others' ids
    return parsed.model_dump(mode="json", exclude_none=True)


def remote_embedder(services: Any) -> Any:
    """The cpu.text workers' embedder when encoding goes through Celery, else None."""
    client = getattr(services.orchestrator.dispatch, "client", None)
    if client is None:
        return None
    embedder = services.extras.get("remote_embedder")
    if embedder is None:
        from workers.dispatch import CeleryEmbedder

        embedder = services.extras["remote_embedder"] = CeleryEmbedder(services.settings, client)
    return embedder


async def ingest_document(
    services: Any, tenant: str, source: str, data: bytes, media_type: str
) -> Any:
    """Text documents: chunk here, embed on the cpu.text workers, write here (stable ids)."""
    from assistant.retrieval.ingest import document_id, extract_sections

    embedder = remote_embedder(services)
    ingestor = services.ingestor
    if embedder is None:
        return await asyncio.to_thread(ingestor.ingest_bytes, tenant, source, data, media_type)
    doc_id = document_id(tenant, source)
    chunks = await asyncio.to_thread(
        lambda: ingestor.chunk(
            doc_id, source, media_type, extract_sections(data, media_type, source)
        )
    )
    vectors = await embedder.embed([c.text for c in chunks])
    return await asyncio.to_thread(
        lambda: ingestor.write(tenant, doc_id, source, media_type, data, chunks, vectors)
    )


async def run_ingest(services: Any, job: Job, progress: Progress) -> dict[str, Any]:
    from assistant.media import media_kind, sniff_media_type

    request = IngestInput.model_validate(job.request)
    sources: list[tuple[str, str]] = [("file", f) for f in request.file_ids] + [
        ("url", u) for u in request.urls
    ]
    progress.stage("ingest", done=0, total=len(sources))
    documents: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for done, (what, ref) in enumerate(sources, start=1):
        try:
            if what == "file":
                data, declared, source = await services.attachments.file_bytes(job.tenant, ref)
            else:
                data, declared, _ = await services.attachments.url_bytes(ref)
                source = ref  # the URL asked for names the document (stable across redirects)
            media_type = sniff_media_type(data, declared)
            if media_kind(media_type) == "document":
                result = await ingest_document(services, job.tenant, source, data, media_type)
            else:
                result = await services.media_ingestor(job.tenant, source, data, media_type)
            documents.append(
                {
                    "document_id": result.document_id,
                    "source": result.source,
                    "media_type": result.media_type,
                    "chunks": result.chunks,
                    what + "_id" if what == "file" else "url": ref,
                }
            )
        except ServiceUnavailable:  # the whole job goes back to the queue (runner.py)
            raise
        except AssistantError as exc:
            failed.append(
                {
                    what + "_id" if what == "file" else "url": ref,
                    "error": exc.message,
                    "code": exc.code,
                }
            )
        progress.stage("ingest", done=done, total=len(sources))
    progress.stage("ingest", done=len(sources), total=len(sources), state="done")
    if failed and not documents:
        first = failed[0]
        raise InvalidRequest(f"nothing was ingested: {first['error']}", code=str(first["code"]))
    return {"documents": documents, "failed": failed}


async def run_analyse(services: Any, job: Job, progress: Progress) -> dict[str, Any]:
    request = AnalyseInput.model_validate(job.request)
    progress.stage("fetch", total=1)
    if request.file_id:
        data, declared, name = await services.attachments.file_bytes(job.tenant, request.file_id)
    else:
        data, declared, _ = await services.attachments.url_bytes(str(request.url))
        name = str(request.url)
    item = await services.attachments.stage(job.tenant, data, declared, name)
    progress.stage("fetch", done=1, total=1, state="done")
    progress.stage("encode", total=1)
    [result] = await services.orchestrator.dispatch(job.tenant, [item])
    if isinstance(result, BaseException):
        if isinstance(result, AssistantError):
            raise result
        raise EncoderFailed(f"{name} could not be analysed: {result}")
    assert isinstance(result, Encoding)
    progress.stage("encode", done=1, total=1, state="done")
    return {"name": name, "media_type": item.media_type, "encoding": result.model_dump(mode="json")}


async def run_chat(services: Any, store: JobStore, job: Job, progress: Progress) -> dict[str, Any]:
    from assistant.api.deps import Principal
    from assistant.api.routes.chat import build_chat_input
    from assistant.api.schemas import ChatCompletionRequest

    body = ChatCompletionRequest.model_validate(job.request)
    principal = Principal(tenant=job.tenant, key_id=f"job:{job.id}")
    progress.stage("prepare")
    chat = await build_chat_input(body, principal, services)
    progress.stage("prepare", done=1, total=1, state="done")
    progress.stage("generate")
    answer = await services.orchestrator.answer(chat)
    progress.stage("generate", done=1, total=1, state="done")
    citations = [c.model_dump() for c in answer.citations]
    result = {
        "text": answer.text,
        "finish_reason": answer.finish_reason,
        "citations": citations,
        "usage": answer.usage.model_dump(),
        "conversation_id": body.conversation_id,
        "findings": [
            {
                "name": f.name,
                "media_type": f.media_type,
                "error": f.error,
                "text": f.encoding.text if f.encoding else None,
            }
            for f in answer.findings
        ],
    }

    def save(session: Session) -> None:
        if body.conversation_id:
            add_messages(
                session,
                body.conversation_id,
                [
                    {"role": "user", "content": body.messages[-1].text()},
                    {"role": "assistant", "content": answer.text, "citations": citations},
                ],
            )

    # messages and the final state in one transaction: a re-run job cannot add them twice
    await asyncio.to_thread(store.finish, job.id, "succeeded", result=result, also=save)
    return result
