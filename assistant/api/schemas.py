"""OpenAI-compatible request and response bodies (the subset we serve, plus extras)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ImageURL(BaseModel):
    url: str
    detail: str | None = None


class ImagePart(BaseModel):
    type: Literal["image_url"]
    image_url: ImageURL


class InputAudio(BaseModel):
    data: str  # base64
    format: str


class AudioPart(BaseModel):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FileRef(BaseModel):
    file_id: str | None = None
    file_data: str | None = None  # data URL
    filename: str | None = None


class FilePart(BaseModel):
    type: Literal["file"]
    file: FileRef


ContentPart = Annotated[TextPart | ImagePart | AudioPart | FilePart, Field(discriminator="type")]


class ChatMessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.text for p in self.content if isinstance(p, TextPart))

    def media_parts(self) -> list[ImagePart | AudioPart | FilePart]:
        if not isinstance(self.content, list):
            return []
        return [p for p in self.content if not isinstance(p, TextPart)]


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    model: str
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int = Field(1, ge=1, le=1)
    user: str | None = None
    # extras (the OpenAI SDK passes them through extra_body)
    conversation_id: str | None = None

    @field_validator("messages")
    @classmethod
    def _last_is_user(cls, messages: list[ChatMessageIn]) -> list[ChatMessageIn]:
        if messages[-1].role != "user":
            raise ValueError("the last message must have role 'user'")
        last = messages[-1]
        if not last.text().strip() and not last.media_parts():
            raise ValueError("the last user message is empty")
        return messages


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
