"""OpenAI-compatible response bodies; the request bodies live with the chat use case."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from assistant.chat.request import (
    AudioPart,
    ChatCompletionRequest,
    ChatMessageIn,
    ContentPart,
    FilePart,
    FileRef,
    ImagePart,
    ImageURL,
    InputAudio,
    StreamOptions,
    TextPart,
)

__all__ = [
    "AudioPart",
    "ChatCompletionRequest",
    "ChatCompletionResponse",
    "ChatMessageIn",
    "Choice",
    "ChoiceMessage",
    "ContentPart",
    "FilePart",
    "FileRef",
    "ImagePart",
    "ImageURL",
    "InputAudio",
    "StreamOptions",
    "TextPart",
]


class ChoiceMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: ChoiceMessage
    finish_reason: str = "stop"


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: dict[str, int]
    citations: list[dict[str, Any]] = []
    conversation_id: str | None = None
