"""Conversations that the chat API can continue by id (an extension of the OpenAI API)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from assistant.api.deps import PrincipalDep, ServicesDep

router = APIRouter(tags=["conversations"])


class NewConversation(BaseModel):
    title: str = Field("", max_length=200)


@router.post("/v1/conversations", status_code=201)
async def create_conversation(
    body: NewConversation, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    conv = await asyncio.to_thread(services.db.create_conversation, principal.tenant, body.title)
    return {"id": conv.id, "object": "conversation", "title": conv.title}


@router.get("/v1/conversations/{conversation_id}")
async def get_conversation(
    conversation_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        conv = services.db.get_conversation(principal.tenant, conversation_id)
        return {
            "id": conv.id,
            "object": "conversation",
            "title": conv.title,
            "messages": [
                {"role": m.role, "content": m.content, "citations": m.citations}
                for m in conv.messages
            ],
        }

    return await asyncio.to_thread(read)
