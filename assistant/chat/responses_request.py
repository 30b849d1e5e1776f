"""OpenAI's Responses API body (``POST /v1/responses``), the common subset, as a chat request.

Text, image and file input, ``instructions``, function tools and their ``function_call`` /
``function_call_output`` items, ``text.format`` (JSON mode and JSON Schema), sampling and
``max_output_tokens``, streamed or not. The body is translated into a ``ChatCompletionRequest``
and answered by the same chat service; anything outside the subset is a 400 naming it
(``extra="forbid"``), never dropped. Nothing is stored: ``store: true`` and
``previous_response_id`` are refused with what to send instead.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator

from assistant.chat.request import NAME_PATTERN, ChatCompletionRequest, Strict
from assistant.errors import InvalidRequest

INPUT_PARTS = ("input_text", "input_image", "input_file", "output_text", "refusal")


class InputText(Strict):
    type: Literal["input_text", "output_text"]
    text: str
    annotations: list[dict[str, Any]] | None = None  # an earlier output sent back as it came
    logprobs: list[dict[str, Any]] | None = None


class InputRefusal(Strict):
    type: Literal["refusal"]
    refusal: str


class InputImage(Strict):
    type: Literal["input_image"]
    image_url: str | None = None
    file_id: str | None = None
    detail: Literal["auto", "low", "high"] | None = None


class InputFile(Strict):
    type: Literal["input_file"]
    file_id: str | None = None
    file_data: str | None = None
    filename: str | None = None


InputPart = Annotated[
    InputText | InputImage | InputFile | InputRefusal, Field(discriminator="type")
]


class MessageItem(Strict):
    type: Literal["message"] = "message"
    role: Literal["user", "system", "developer", "assistant"]
    content: str | list[InputPart]
    id: str | None = None
    status: str | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _known_parts(cls, content: Any) -> Any:
        if isinstance(content, list):
            for i, part in enumerate(content):
                kind = part.get("type") if isinstance(part, dict) else None
                if kind not in INPUT_PARTS:
                    raise ValueError(
                        f"part {i} has type {kind!r}; the part types served are "
                        + ", ".join(INPUT_PARTS)
                    )
        return content


class FunctionCallItem(Strict):
    type: Literal["function_call"]
    call_id: str = Field(min_length=1)
    name: str
    arguments: str
    id: str | None = None
    status: str | None = None


class FunctionCallOutputItem(Strict):
    type: Literal["function_call_output"]
    call_id: str = Field(min_length=1)
    output: str
    id: str | None = None
    status: str | None = None


InputItem = MessageItem | FunctionCallItem | FunctionCallOutputItem


class FunctionTool(Strict):
    type: Literal["function"]
    name: str = Field(pattern=NAME_PATTERN)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class NamedFunction(Strict):
    type: Literal["function"]
    name: str


class TextFormat(Strict):
    type: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    description: str | None = None
    strict: bool | None = None


class TextOptions(Strict):
    format: TextFormat | None = None
    verbosity: Literal["low", "medium", "high"] | None = None


class ResponsesRequest(Strict):
    model: str
    input: str | list[InputItem]
    instructions: str | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedFunction | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stream: bool = False
    text: TextOptions | None = None
    metadata: dict[str, str] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    truncation: Literal["disabled"] | None = None
    store: Literal[False] | None = None  # nothing is kept: send the whole input each time
    # extras, as on chat completions
    conversation_id: str | None = None

    def items(self) -> list[InputItem]:
        if isinstance(self.input, str):
            return [MessageItem(role="user", content=self.input)]
        return list(self.input)

    def chat_request(self) -> ChatCompletionRequest:
        """The same request in chat-completions terms (validated there too)."""
        messages: list[dict[str, Any]] = []
        if self.instructions:
            messages.append({"role": "system", "content": self.instructions})
        for item in self.items():
            if isinstance(item, FunctionCallItem):
                call = {
                    "id": item.call_id,
                    "type": "function",
                    "function": {"name": item.name, "arguments": item.arguments},
                }
                last = messages[-1] if messages else None
                if last and last["role"] == "assistant" and last.get("tool_calls"):
                    last["tool_calls"].append(call)  # parallel calls: one assistant turn
                else:
                    messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
            elif isinstance(item, FunctionCallOutputItem):
                messages.append(
                    {"role": "tool", "tool_call_id": item.call_id, "content": item.output}
                )
            else:
                messages.append({"role": item.role, "content": _chat_content(item.content)})
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": self.stream}
        for name in ("parallel_tool_calls", "temperature", "top_p", "conversation_id"):
            if (value := getattr(self, name)) is not None:
                body[name] = value
        if self.max_output_tokens is not None:
            body["max_completion_tokens"] = self.max_output_tokens
        if self.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": t.model_dump(exclude={"type"}, exclude_none=True),
                }
                for t in self.tools
            ]
        if isinstance(self.tool_choice, NamedFunction):
            body["tool_choice"] = {"type": "function", "function": {"name": self.tool_choice.name}}
        elif self.tool_choice is not None:
            body["tool_choice"] = self.tool_choice
        fmt = self.text.format if self.text else None
        if fmt is not None and fmt.type == "json_schema":
            schema: dict[str, Any] = {"name": fmt.name or "output", "schema": fmt.schema_ or {}}
            if fmt.strict is not None:
                schema["strict"] = fmt.strict
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
        elif fmt is not None:
            body["response_format"] = {"type": fmt.type}
        if self.text and self.text.verbosity:
            body["verbosity"] = self.text.verbosity
        try:
            return ChatCompletionRequest.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()) if "[" not in str(p))
            message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
            raise InvalidRequest(
                f"{message} (at {where or 'the top level'} of this request as a chat completion)"
            ) from exc


def _chat_content(content: str | list[Any]) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, InputText):
            parts.append({"type": "text", "text": part.text})
        elif isinstance(part, InputRefusal):
            parts.append({"type": "refusal", "refusal": part.refusal})
        elif isinstance(part, InputImage) and part.file_id:
            parts.append({"type": "file", "file": {"file_id": part.file_id}})
        elif isinstance(part, InputImage):
            parts.append({"type": "image_url", "image_url": {"url": part.image_url or ""}})
        else:
            ref = part.model_dump(include={"file_id", "file_data", "filename"}, exclude_none=True)
            parts.append({"type": "file", "file": ref})
    return parts
