"""POST /v1/responses: OpenAI's Responses API (the common subset), over the chat service.

The body becomes a chat request (``assistant/chat/responses_request.py``); the answer comes back
as Response output items (an assistant ``message`` with ``output_text`` and its url_citation
annotations, and ``function_call`` items), plain or as the Responses stream of typed events.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from assistant.api.annotations import url_citations
from assistant.api.deps import PrincipalDep, ServicesDep
from assistant.api.streaming import event_stream
from assistant.chat.responses_request import NamedFunction, ResponsesRequest
from assistant.errors import AssistantError
from assistant.orchestrator import Answer

router = APIRouter(tags=["responses"])


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _flat(notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Chat annotations nest the citation; Responses annotations are flat."""
    return [{"type": "url_citation", **n["url_citation"]} for n in notes]


def _text_part(text: str, notes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": notes, "logprobs": []}


def _message_item(
    item_id: str, text: str, notes: list[dict[str, Any]], status: str
) -> dict[str, Any]:
    content = [_text_part(text, notes)] if status == "completed" else []
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _call_items(answer: Answer) -> list[dict[str, Any]]:
    return [
        {
            "type": "function_call",
            "id": _id("fc"),
            "call_id": c.id,
            "name": c.name,
            "arguments": c.arguments,
            "status": "completed",
        }
        for c in answer.tool_calls
    ]


def _usage(answer: Answer | None) -> dict[str, Any] | None:
    if answer is None:
        return None
    u = answer.usage
    return {
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": u.total_tokens,
    }


def _envelope(
    body: ResponsesRequest,
    response_id: str,
    created: float,
    status: str,
    output: list[dict[str, Any]],
    answer: Answer | None,
) -> dict[str, Any]:
    """The Response object: what was asked for, and (once done) the output and usage."""
    cut = answer is not None and answer.finish_reason == "length"
    choice = body.tool_choice
    fmt = body.text.format if body.text else None
    return {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": "incomplete" if cut and status == "completed" else status,
        "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
        "error": None,
        "model": body.model,
        "instructions": body.instructions,
        "output": output,
        "parallel_tool_calls": body.parallel_tool_calls is not False,
        "tool_choice": choice.model_dump()
        if isinstance(choice, NamedFunction)
        else choice or "auto",
        "tools": [t.model_dump(exclude_none=True) for t in body.tools or []],
        "temperature": body.temperature,
        "top_p": body.top_p,
        "max_output_tokens": body.max_output_tokens,
        "metadata": body.metadata or {},
        "store": False,
        "text": {
            "format": fmt.model_dump(by_alias=True, exclude_none=True) if fmt else {"type": "text"}
        },
        "usage": _usage(answer),
        "citations": [c.model_dump() for c in answer.citations] if answer else [],
        "unsupported": answer.unsupported if answer else [],
        "conversation_id": body.conversation_id,
    }


@router.post("/v1/responses", response_model=None)
async def create_response(
    body: ResponsesRequest, request: Request, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any] | StreamingResponse:
    service = services.chat
    turn = await service.open_turn(body.chat_request(), principal)
    chat = turn.chat
    base_url = str(request.base_url)
    response_id, message_id, created = _id("resp"), _id("msg"), time.time()

    def envelope(
        status: str, output: list[dict[str, Any]], answer: Answer | None
    ) -> dict[str, Any]:
        return _envelope(body, response_id, created, status, output, answer)

    def output_of(answer: Answer) -> list[dict[str, Any]]:
        items = []
        if answer.text or not answer.tool_calls:
            notes = _flat(url_citations(answer.text, answer.citations, base_url))
            items.append(_message_item(message_id, answer.text, notes, "completed"))
        return items + _call_items(answer)

    if not body.stream:
        answer = await service.answer(chat)
        await service.record_turn(turn, answer)
        return envelope("completed", output_of(answer), answer)

    prepared = await service.prepare(chat)
    sequence = itertools.count()

    def event(kind: str, **data: Any) -> str:
        payload = {"type": kind, "sequence_number": next(sequence), **data}
        return f"event: {kind}\ndata: {json.dumps(payload)}\n\n"

    async def events() -> AsyncIterator[str]:
        yield event("response.created", response=envelope("in_progress", [], None))
        yield event("response.in_progress", response=envelope("in_progress", [], None))
        where = {"item_id": message_id, "output_index": 0, "content_index": 0}
        started = False
        try:
            async for item in service.stream(chat, prepared):
                if isinstance(item, str):
                    if not started:
                        started = True
                        yield event(
                            "response.output_item.added",
                            output_index=0,
                            item=_message_item(message_id, "", [], "in_progress"),
                        )
                        yield event("response.content_part.added", part=_text_part("", []), **where)
                    yield event("response.output_text.delta", delta=item, logprobs=[], **where)
                    continue
                await service.record_turn(turn, item)
                output = output_of(item)
                if started:
                    message = output[0]
                    part = message["content"][0]
                    for n, note in enumerate(part["annotations"]):
                        yield event(
                            "response.output_text.annotation.added",
                            annotation_index=n,
                            annotation=note,
                            **where,
                        )
                    yield event(
                        "response.output_text.done", text=part["text"], logprobs=[], **where
                    )
                    yield event("response.content_part.done", part=part, **where)
                    yield event("response.output_item.done", output_index=0, item=message)
                elif output and output[0]["type"] == "message":
                    output = output[1:]  # nothing was said: no empty message item
                first_call = 1 if started else 0
                for index, call in enumerate(output[first_call:], start=first_call):
                    added = {**call, "arguments": "", "status": "in_progress"}
                    yield event("response.output_item.added", output_index=index, item=added)
                    ids = {"item_id": call["id"], "output_index": index}
                    yield event(
                        "response.function_call_arguments.delta", delta=call["arguments"], **ids
                    )
                    yield event(
                        "response.function_call_arguments.done",
                        arguments=call["arguments"],
                        name=call["name"],
                        **ids,
                    )
                    yield event("response.output_item.done", output_index=index, item=call)
                yield event("response.completed", response=envelope("completed", output, item))
        except AssistantError as exc:
            yield event("error", code=exc.code, message=exc.message, param=exc.param)

    return event_stream(events())
