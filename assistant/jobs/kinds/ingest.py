"""``ingest``: files and URLs into the knowledge base, one by one; a bad one does not stop the rest."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assistant.errors import AssistantError, InvalidRequest, ServiceUnavailable
from assistant.jobs.kinds.base import JobContext, JobKind, check_files, parse_input
from assistant.jobs.models import Job
from assistant.jobs.progress import Progress


class IngestInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file_ids: list[str] = Field(default_factory=list, max_length=1000)
    urls: list[str] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _something(self) -> IngestInput:
        if not self.file_ids and not self.urls:
            raise ValueError("give file_ids or urls")
        return self


class IngestKind(JobKind):
    name = "ingest"
    Input = IngestInput

    async def validate(self, ctx: JobContext, tenant: str, data: dict[str, Any]) -> dict[str, Any]:
        parsed = parse_input(IngestInput, data)
        await check_files(ctx, tenant, parsed.file_ids)
        return parsed.model_dump(mode="json", exclude_none=True)

    async def run(self, ctx: JobContext, job: Job, progress: Progress) -> dict[str, Any]:
        request = IngestInput.model_validate(job.request)
        sources: list[tuple[str, str]] = [("file", f) for f in request.file_ids] + [
            ("url", u) for u in request.urls
        ]
        progress.stage("ingest", done=0, total=len(sources))
        documents: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for done, (what, ref) in enumerate(sources, start=1):
            key = "file_id" if what == "file" else "url"
            try:
                if what == "file":
                    data, declared, source = await ctx.attachments.file_bytes(job.tenant, ref)
                else:
                    data, declared, _ = await ctx.attachments.url_bytes(ref)
                    source = ref  # the URL asked for names the document (stable across redirects)
                result = await ctx.ingest.ingest(job.tenant, source, data, declared)
                documents.append(
                    {
                        "document_id": result.document_id,
                        "source": result.source,
                        "media_type": result.media_type,
                        "chunks": result.chunks,
                        key: ref,
                    }
                )
            except ServiceUnavailable:  # the whole job goes back to the queue (runner.py)
                raise
            except AssistantError as exc:
                failed.append({key: ref, "error": exc.message, "code": exc.code})
            progress.stage("ingest", done=done, total=len(sources))
        progress.stage("ingest", done=len(sources), total=len(sources), state="done")
        if failed and not documents:
            first = failed[0]
            raise InvalidRequest(f"nothing was ingested: {first['error']}", code=str(first["code"]))
        return {"documents": documents, "failed": failed}


kind = IngestKind()
