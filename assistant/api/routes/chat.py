"""POST /v1/chat/completions, OpenAI-compatible (plain and SSE streaming)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from assistant.api.deps import Principal, PrincipalDep, ServicesDep
from assistant.api.errors import error_body
from assistant.api.schemas import (
    ChatCompletionRequest,
    ChatCompletionResponse,
    Choice,
    ChoiceMessage,
)
from assistant.errors import (
    AssistantError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
)
from assistant.orchestrator import Answer, ChatInput, ChatTurn
from assistant.services import Services

router = APIRouter(tags=["chat"])


def _check_limits(body: ChatCompletionRequest, services: Services) -> None:
    api = services.settings.api
    if body.model not in services.extras.get("model_ids", {services.settings.llm.model_name}):
        raise NotFound(
            f"the model {body.model!r} does not exist; see GET /v1/models",
            param="model",
            code="model_not_found",
        )
    if len(body.messages) > api.max_messages:
        raise PayloadTooLarge(
            f"{len(body.messages)} messages is more than the limit of {api.max_messages}",
            param="messages",
        )
    for i, message in enumerate(body.messages):
        if len(message.text()) > api.max_message_chars:
            raise PayloadTooLarge(
                f"messages[{i}] has {len(message.text())} characters; the limit is "
                f"{api.max_message_chars}",
                param=f"messages.{i}.content",
            )
    limit = services.settings.llm.n_ctx
    wanted = body.max_completion_tokens or body.max_tokens
    if wanted is not None and wanted > limit:
        raise InvalidRequest(
            f"max_tokens {wanted} is larger than the model's context of {limit} tokens",
            param="max_tokens",
        )


async def build_chat_input(
    body: ChatCompletionRequest, principal: Principal, services: Services
) -> ChatInput:
    turns: list[ChatTurn] = []
    if body.conversation_id:
        for stored in services.db.history(principal.tenant, body.conversation_id):
            if stored.role in ("user", "assistant"):
                turns.append(ChatTurn(stored.role, stored.content))  # type: ignore[arg-type]
    for m in body.messages:
        if m.role == "tool":
            continue
        role = "system" if m.role == "developer" else m.role
        turns.append(ChatTurn(role, m.text()))

    parts = [p for m in body.messages if m.role == "user" for p in m.media_parts()]
    attachments = await services.attachments(principal, parts) if parts else []
    return ChatInput(
        tenant=principal.tenant,
        messages=turns,
        attachments=attachments,
        temperature=body.temperature,
        max_tokens=body.max_completion_tokens or body.max_tokens,
    )


def _save(
    services: Services, principal: Principal, body: ChatCompletionRequest, answer: Answer
) -> None:
    if not body.conversation_id:
        return
    services.db.append_messages(
        principal.tenant,
        body.conversation_id,
        [
            {"role": "user", "content": body.messages[-1].text()},
            {
                "role": "assistant",
                "content": answer.text,
                "citations": [c.model_dump() for c in answer.citations],
            },
        ],
    )


def _usage(answer: Answer) -> dict[str, int]:
    return answer.usage.model_dump()


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest, principal: PrincipalDep, services: ServicesDep
) -> ChatCompletionResponse | StreamingResponse:
    _check_limits(body, services)
    if body.conversation_id:
        services.db.get_conversation(principal.tenant, body.conversation_id)  # 404 early
    chat = await build_chat_input(body, principal, services)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    orchestrator = services.orchestrator

    if not body.stream:
        answer = await orchestrator.answer(chat)
        _save(services, principal, body, answer)
        return ChatCompletionResponse(
            id=completion_id,
            created=created,
            model=body.model,
            choices=[
                Choice(
                    message=ChoiceMessage(content=answer.text), finish_reason=answer.finish_reason
                )
            ],
            usage=_usage(answer),
            citations=[c.model_dump() for c in answer.citations],
            conversation_id=body.conversation_id,
        )

    prepared = await orchestrator.prepare(chat)  # errors here still get a proper status code
    include_usage = bool(body.stream_options and body.stream_options.include_usage)

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(payload)}\n\n"

    async def events() -> AsyncIterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            async for item in orchestrator.stream(chat, prepared):
                if isinstance(item, str):
                    yield chunk({"content": item})
                    continue
                _save(services, principal, body, item)
                yield chunk(
                    {},
                    item.finish_reason,
                    citations=[c.model_dump() for c in item.citations],
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

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
