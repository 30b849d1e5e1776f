"""``analyse``: one file or URL through its encoder; the findings are the result."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from assistant.errors import AssistantError, EncoderFailed
from assistant.jobs.kinds.base import JobContext, JobKind, check_files, parse_input
from assistant.jobs.models import Job
from assistant.jobs.progress import Progress


class AnalyseInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    file_id: str | None = None
    url: str | None = None

    @model_validator(mode="after")
    def _one(self) -> AnalyseInput:
        if (self.file_id is None) == (self.url is None):
            raise ValueError("give exactly one of file_id or url")
        return self


class AnalyseKind(JobKind):
    name = "analyse"
    Input = AnalyseInput

    async def validate(self, ctx: JobContext, tenant: str, data: dict[str, Any]) -> dict[str, Any]:
        parsed = parse_input(AnalyseInput, data)
        await check_files(ctx, tenant, [parsed.file_id] if parsed.file_id else [])
        return parsed.model_dump(mode="json", exclude_none=True)

    async def run(self, ctx: JobContext, job: Job, progress: Progress) -> dict[str, Any]:
        request = AnalyseInput.model_validate(job.request)
        progress.stage("fetch", total=1)
        if request.file_id:
            data, declared, name = await ctx.attachments.file_bytes(job.tenant, request.file_id)
        else:
            data, declared, _ = await ctx.attachments.url_bytes(str(request.url))
            name = str(request.url)
        item = await ctx.attachments.stage(job.tenant, data, declared, name)
        progress.stage("fetch", done=1, total=1, state="done")
        progress.stage("encode", total=1)
        [result] = await ctx.dispatch.encode(job.tenant, [item])
        if isinstance(result, AssistantError):
            raise result
        if isinstance(result, BaseException):
            raise EncoderFailed(f"{name} could not be analysed: {result}")
        progress.stage("encode", done=1, total=1, state="done")
        return {
            "name": name,
            "media_type": item.media_type,
            "encoding": result.model_dump(mode="json"),
        }


kind = AnalyseKind()
