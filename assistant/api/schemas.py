"""OpenAI-compatible response bodies; the request bodies live with the chat use case."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from assistant.chat.request import ChatCompletionRequest

__all__ = ["ChatCompletionRequest", "ChatCompletionResponse", "Choice", "ChoiceMessage"]


class ChoiceMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    annotations: list[dict[str, Any]] = []


class Choice(BaseModel):
    index: int = 0
    message: ChoiceMessage
    finish_reason: str = "stop"
    logprobs: dict[str, Any] | None = None


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: dict[str, int]
    system_fingerprint: str | None = None
    citations: list[dict[str, Any]] = []
    # numbers and names in the answer that none of its sources holds (see the README)
    unsupported: list[str] = []
    conversation_id: str | None = None
