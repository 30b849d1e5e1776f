"""POST /v1/chat/completions, OpenAI-compatible (plain and SSE streaming)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from assistant.api.annotations import url_citations
from assistant.api.deps import PrincipalDep, ServicesDep
from assistant.api.errors import error_body
from assistant.api.schemas import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    Choice,
    ChoiceMessage,
)
from assistant.api.streaming import event_stream
from assistant.errors import AssistantError
from assistant.orchestrator import Answer

router = APIRouter(tags=["chat"])


def _usage(answer: Answer) -> dict[str, int]:
    return answer.usage.model_dump()


def _message(answer: Answer, base_url: str) -> ChoiceMessage:
    calls = [c.openai() for c in answer.tool_calls]
    return ChoiceMessage(
        content=None if calls and not answer.text else answer.text,
        tool_calls=calls or None,
        annotations=url_citations(answer.text, answer.citations, base_url),
    )


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, principal: PrincipalDep, services: ServicesDep
) -> ChatCompletionResponse | StreamingResponse:
    service = services.chat
    turn = await service.open_turn(body, principal)  # limits and the conversation, then input
    chat = turn.chat
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    base_url = str(request.base_url)

    if not body.stream:
        answer = await service.answer(chat)
        await service.record_turn(turn, answer)
        return ChatCompletionResponse(
            id=completion_id,
            created=created,
            model=body.model,
            choices=[
                Choice(
                    message=_message(answer, base_url),
                    finish_reason=answer.finish_reason,
                    logprobs=answer.logprobs,
                )
            ],
            usage=_usage(answer),
            citations=[c.model_dump() for c in answer.citations],
            unsupported=answer.unsupported,
            conversation_id=body.conversation_id,
        )

    prepared = await service.prepare(chat)  # errors here still get a proper status code
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(
        delta: dict[str, Any], finish: str | None = None, logprobs: Any = None, **extra: Any
    ) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": logprobs}
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.model,
            "choices": [choice],
            **extra,
        }
        return f"data: {json.dumps(payload)}\n\n"

    async def events() -> AsyncIterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            async for item in service.stream(chat, prepared):
                if isinstance(item, str):
                    yield chunk({"content": item})
                    continue
                await service.record_turn(turn, item)
                for index, call in enumerate(item.tool_calls):
                    yield chunk({"tool_calls": [{"index": index, **call.openai()}]})
                if notes := url_citations(item.text, item.citations, base_url):
                    yield chunk({"annotations": notes})
                yield chunk(
                    {},
                    item.finish_reason,
                    item.logprobs,
                    citations=[c.model_dump() for c in item.citations],
                    unsupported=item.unsupported,
                    conversation_id=body.conversation_id,
                )
                if include_usage:
                    usage_payload = {
                        "id": completion_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": body.model,
                        "choices": [],
                        "usage": _usage(item),
                    }
                    yield f"data: {json.dumps(usage_payload)}\n\n"
        except AssistantError as exc:
            yield f"data: {json.dumps(error_body(exc.message, exc.type, exc.code))}\n\n"
        yield "data: [DONE]\n\n"

    return event_stream(events())
