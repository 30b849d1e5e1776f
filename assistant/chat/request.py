"""The chat request: OpenAI's chat-completions body, every parameter accounted for.

It is the input of the chat use case wherever it comes from: ``POST /v1/chat/completions``,
a ``chat`` job, or (built in code) a bot. Unknown parameters are refused (``extra="forbid"``,
mapped to a 400 naming them), never dropped; whether the configured backend honours each
generation parameter is checked by the chat service (``supported_parameters``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from assistant.llm.options import Generation, ToolSpec

PART_TYPES = ("text", "image_url", "input_audio", "file", "refusal")
NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"


def check_unicode(text: str) -> str:
    """Valid JSON may carry a lone UTF-16 surrogate ("\\ud800"); no model can read one."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"the text holds a lone UTF-16 surrogate at character {exc.start}; send valid Unicode"
        ) from None
    return text


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TextPart(Strict):
    type: Literal["text"]
    text: Annotated[str, AfterValidator(check_unicode)]


class RefusalPart(Strict):
    type: Literal["refusal"]
    refusal: str


class ImageURL(Strict):
    url: str = Field(min_length=1)
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(Strict):
    type: Literal["image_url"]
    image_url: ImageURL

    @field_validator("image_url", mode="before")
    @classmethod
    def _bare_url(cls, value: Any) -> Any:
        return {"url": value} if isinstance(value, str) else value  # some clients send a string


class InputAudio(Strict):
    data: str  # base64
    format: str


class AudioPart(Strict):
    type: Literal["input_audio"]
    input_audio: InputAudio


class FileRef(Strict):
    file_id: str | None = None
    file_data: str | None = None  # data URL
    filename: str | None = None


class FilePart(Strict):
    type: Literal["file"]
    file: FileRef


ContentPart = Annotated[
    TextPart | ImagePart | AudioPart | FilePart | RefusalPart, Field(discriminator="type")
]


class FunctionCall(Strict):
    name: str
    arguments: str

    @field_validator("arguments")
    @classmethod
    def _json_object(cls, arguments: str) -> str:
        try:
            parsed = json.loads(arguments or "{}")
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ValueError("the arguments of a tool call must be a JSON object, as text")
        return arguments


class ToolCallIn(Strict):
    id: str = Field(min_length=1)
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessageIn(Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    # assistant messages
    tool_calls: list[ToolCallIn] | None = None
    refusal: str | None = None
    annotations: list[dict[str, Any]] | None = None  # a reply sent back as it came; output only
    # tool messages
    tool_call_id: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _known_parts(cls, content: Any) -> Any:
        if isinstance(content, str):
            return check_unicode(content)
        if not isinstance(content, list):
            return content
        for i, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in PART_TYPES:
                raise ValueError(
                    f"part {i} has {'type ' + repr(kind) if kind else 'no type'}; the part types "
                    f"served are {', '.join(PART_TYPES)}"
                )
        return content

    @model_validator(mode="after")
    def _role_fields(self) -> ChatMessageIn:
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id it answers")
        parts = self.content if isinstance(self.content, list) else []
        if self.role != "assistant" and any(isinstance(p, RefusalPart) for p in parts):
            raise ValueError("only assistant messages carry refusal parts")
        if self.role in ("system", "developer", "tool", "assistant") and self.media_parts():
            raise ValueError(f"{self.role} messages take text only; attach media to a user message")
        return self

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(p.text for p in self.content if isinstance(p, TextPart))

    def media_parts(self) -> list[ImagePart | AudioPart | FilePart]:
        if not isinstance(self.content, list):
            return []
        return [p for p in self.content if isinstance(p, ImagePart | AudioPart | FilePart)]


class StreamOptions(Strict):
    include_usage: bool = False
    include_obfuscation: bool | None = None  # nothing to obfuscate: deltas are not padded


def _check_schema(schema: dict[str, Any]) -> dict[str, Any]:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        raise ValueError(f"not a valid JSON Schema (at {where}: {exc.message})") from None
    return schema


JSONSchema = Annotated[dict[str, Any], AfterValidator(_check_schema)]


class FunctionDef(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    parameters: JSONSchema = Field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None


class Tool(Strict):
    type: Literal["function"]
    function: FunctionDef


class NamedFunction(Strict):
    name: str


class NamedToolChoice(Strict):
    type: Literal["function"]
    function: NamedFunction


class JSONSchemaFormat(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    schema_: JSONSchema = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormat(Strict):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError("type 'json_schema' needs a json_schema object")
        return self

    def openai(self) -> dict[str, Any] | None:
        if self.type == "text":
            return None
        return self.model_dump(by_alias=True, exclude_none=True)


# parameters that reach the model, by their request names (checked against the backend)
GENERATION_PARAMETERS = (
    "temperature",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "seed",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "reasoning_effort",
    "verbosity",
)


FRONTEND_TASK_OPENING = "### Task:"


class ChatCompletionRequest(Strict):
    model: str
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int = Field(1, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    tools: list[Tool] | None = Field(None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    modalities: list[Literal["text"]] | None = None  # audio output is not served
    # accepted, and only attributions of the caller: they change nothing in the answer
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    metadata: dict[str, str] | None = None
    # "flex": this request may wait; the local model serves people's requests first
    service_tier: Literal["auto", "default", "flex", "priority"] | None = None
    store: Literal[False] | None = None  # nothing is kept for OpenAI's dashboard
    # extras (the OpenAI SDK passes them through extra_body)
    conversation_id: str | None = None

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int) -> int:
        if n != 1:
            raise ValueError("only n=1 is served; send the request again for another choice")
        return n

    @field_validator("stop")
    @classmethod
    def _stops(cls, stop: str | list[str] | None) -> str | list[str] | None:
        stops = [stop] if isinstance(stop, str) else stop or []
        if len(stops) > 16 or any(not s for s in stops):
            raise ValueError("give at most 16 stop sequences, none of them empty")
        return stop

    @model_validator(mode="after")
    def _consistent(self) -> ChatCompletionRequest:
        self._check_tools()
        self._check_dialogue()
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        return self

    def _check_tools(self) -> None:
        names = [t.function.name for t in self.tools or []]
        if len(set(names)) != len(names):
            raise ValueError("tools: two tools have the same name")
        choice = self.tool_choice
        if choice not in (None, "none") and not names:
            raise ValueError("tool_choice needs tools")
        if isinstance(choice, NamedToolChoice) and choice.function.name not in names:
            raise ValueError(f"tool_choice names {choice.function.name!r}, which is not in tools")

    def _check_dialogue(self) -> None:
        if not any(m.role == "user" for m in self.messages):
            raise ValueError("messages need at least one user message")
        offered: set[str] = set()
        for i, m in enumerate(self.messages):
            offered.update(c.id for c in m.tool_calls or [])
            if m.role == "tool" and m.tool_call_id not in offered:
                raise ValueError(
                    f"messages[{i}] answers tool call {m.tool_call_id!r}, which no earlier "
                    "assistant message made"
                )
        last = self.messages[-1]
        if last.role == "user" and not last.text().strip() and not last.media_parts():
            raise ValueError("the last user message is empty")
        if last.role == "assistant" and last.tool_calls:
            raise ValueError(
                "the last message makes tool calls; send their results as tool messages"
            )
        if last.role in ("system", "developer"):
            raise ValueError(
                "the last message must be from the user, a tool, or an assistant prefill"
            )

    def background(self) -> bool:
        """Whether no person waits on this answer: ``service_tier: "flex"``, or a front end's
        own task completion (Open WebUI's title, tags, follow-ups and query prompts all open
        with "### Task:")."""
        return self.service_tier == "flex" or self.frontend_task()

    def frontend_task(self) -> bool:
        """Whether this is a front end's own task completion (its output is parsed)."""
        last = next(m for m in reversed(self.messages) if m.role == "user")
        return last.text().lstrip().startswith(FRONTEND_TASK_OPENING)

    def parameters_set(self) -> list[str]:
        """The generation parameters this request asks for (to check against the backend)."""
        return [
            p
            for p in GENERATION_PARAMETERS
            if p in self.model_fields_set and getattr(self, p) is not None
        ]

    def generation(self) -> Generation:
        choice = self.tool_choice
        stops = [self.stop] if isinstance(self.stop, str) else list(self.stop or [])
        passthrough = {
            k: v for k in ("reasoning_effort", "verbosity") if (v := getattr(self, k)) is not None
        }
        return Generation(
            temperature=self.temperature,
            max_tokens=self.max_completion_tokens or self.max_tokens,
            top_p=self.top_p,
            seed=self.seed,
            stop=stops,
            presence_penalty=self.presence_penalty,
            frequency_penalty=self.frequency_penalty,
            logit_bias=self.logit_bias,
            logprobs=bool(self.logprobs),
            top_logprobs=self.top_logprobs,
            tools=[
                ToolSpec(
                    name=t.function.name,
                    parameters=t.function.parameters,
                    description=t.function.description,
                    strict=t.function.strict,
                )
                for t in self.tools or []
            ],
            tool_choice=(
                choice.function.name if isinstance(choice, NamedToolChoice) else choice or "auto"
            ),
            parallel_tool_calls=self.parallel_tool_calls,
            response_format=self.response_format.openai() if self.response_format else None,
            passthrough=passthrough,
        )
