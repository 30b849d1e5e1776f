"""Plain data passed between the API, the bots and the orchestrator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel

from assistant.llm.fair import Priority
from assistant.llm.options import Generation, ToolCall
from assistant.plugins.contract import Encoding, MediaItem, Rendition


@dataclass
class ChatTurn:
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    # an assistant turn's calls, or the call a tool turn answers
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None


@dataclass
class Finding:
    """What the encoders found in one attachment (or why they could not)."""

    name: str
    media_type: str
    encoding: Encoding | None = None
    error: str | None = None
    # model-ready copies (resized image, keyframes, WAV) for a model that reads raw media
    media: list[Rendition] = field(default_factory=list)


@dataclass
class ChatInput:
    tenant: str
    messages: list[ChatTurn]
    attachments: list[MediaItem] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    generation: Generation = field(default_factory=Generation)
    # background: no person waits on it (the local model serves interactive calls first)
    priority: Priority = "interactive"
    # a front end's own task completion (Open WebUI's title, tags, follow-ups): its prompt
    # carries its context and asks for a format the front end parses, not a person: answered
    # from the messages as sent (no retrieval, no grounding prompt, no note under it)
    frontend_task: bool = False


class Citation(BaseModel):
    """A numbered source the answer may cite: a document chunk or a media segment."""

    index: int
    kind: Literal["document", "media", "attachment"]
    source: str
    document_id: str | None = None
    chunk: int | None = None
    page: int | None = None
    start: float | None = None
    end: float | None = None
    score: float | None = None
    snippet: str = ""


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass
class Prepared:
    messages: list[Any]
    citations: list[Citation]
    findings: list[Finding]
    # the request's attachments by their number in the prompt (for the internal tools)
    attachments: dict[int, MediaItem] = field(default_factory=dict)
    # the facts the model is given, whole (it may read chunks cut to a sentence): what an
    # answer's claims are looked up in (prompt.evidence, grounding.py)
    evidence: list[str] = field(default_factory=list)


@dataclass
class Answer:
    text: str
    citations: list[Citation]
    usage: Usage
    finish_reason: str = "stop"
    findings: list[Finding] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    logprobs: dict[str, Any] | None = None
    # the numbers and names it holds that nothing the model was given does (grounding.py)
    unsupported: list[str] = field(default_factory=list)
