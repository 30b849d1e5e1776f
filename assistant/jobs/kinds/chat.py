"""``chat``: a chat completion run in the background (the same ChatService as the route)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.orm import Session

from assistant.auth import Principal
from assistant.chat.request import ChatCompletionRequest
from assistant.errors import InvalidRequest
from assistant.jobs.kinds.base import JobContext, JobKind, parse_input
from assistant.jobs.models import Job
from assistant.jobs.progress import Progress


class ChatKind(JobKind):
    name = "chat"
    Input = ChatCompletionRequest
    finishes_itself = True  # its messages and its final state in one transaction

    async def validate(self, ctx: JobContext, tenant: str, data: dict[str, Any]) -> dict[str, Any]:
        body = parse_input(ChatCompletionRequest, data)
        if body.stream:
            raise InvalidRequest(
                "a chat job cannot stream; poll the job or use events", param="input.stream"
            )
        await ctx.chat.check(body, tenant)
        return body.model_dump(mode="json", exclude_none=True, by_alias=True)

    async def run(self, ctx: JobContext, job: Job, progress: Progress) -> dict[str, Any]:
        body = ChatCompletionRequest.model_validate(job.request)
        principal = Principal(tenant=job.tenant, key_id=f"job:{job.id}")
        progress.stage("prepare")
        chat = await ctx.chat.input_for(body, principal)
        chat.priority = "background"  # a job: nobody waits at the other end of a connection
        progress.stage("prepare", done=1, total=1, state="done")
        progress.stage("generate")
        answer = await ctx.chat.answer(chat)
        progress.stage("generate", done=1, total=1, state="done")
        result = {
            "text": answer.text,
            "finish_reason": answer.finish_reason,
            "tool_calls": [c.openai() for c in answer.tool_calls],
            "citations": [c.model_dump() for c in answer.citations],
            "unsupported": answer.unsupported,
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
        question, names = ctx.chat.request_turn(body, chat)

        def save(session: Session) -> None:
            ctx.chat.record_in(session, body.conversation_id, question, names, answer)

        await asyncio.to_thread(ctx.store.finish, job.id, "succeeded", result=result, also=save)
        return result


kind = ChatKind()
