"""How to generate: sampling, stop sequences, tools and output format, backend-neutral.

The chat request is turned into one ``Generation``; ``kwargs()`` gives the OpenAI-shaped keyword
arguments every chat model here takes (ours over llama.cpp, and LangChain's ``ChatOpenAI``, which
puts them into the request body). Which parameters a backend honours is ``supported_parameters``:
a request asking for one it cannot honour is refused before any work, never silently ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from assistant.config import LLMSettings

ToolChoice = Literal["auto", "none", "required"]

# parameters every backend takes, then what only some do
_COMMON = frozenset({"temperature", "max_tokens", "max_completion_tokens", "stop", "seed", "top_p"})
_LOCAL = _COMMON | {
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
}
_OPENAI = _LOCAL | {"logprobs", "top_logprobs", "reasoning_effort", "verbosity"}


def supported_parameters(settings: LLMSettings) -> frozenset[str]:
    """The generation parameters the configured backend honours."""
    if settings.provider == "openai":
        return _OPENAI
    if settings.provider == "local":
        return _LOCAL | ({"logprobs", "top_logprobs"} if settings.logprobs else frozenset())
    return _OPENAI  # "fake": unit tests, which check what reaches the model


@dataclass(frozen=True)
class ToolSpec:
    """A function the client offers the model (OpenAI's ``tools[].function``)."""

    name: str
    parameters: dict[str, Any]
    description: str = ""
    strict: bool | None = None

    def openai(self) -> dict[str, Any]:
        function: dict[str, Any] = {"name": self.name, "parameters": self.parameters}
        if self.description:
            function["description"] = self.description
        if self.strict is not None:
            function["strict"] = self.strict
        return {"type": "function", "function": function}


@dataclass(frozen=True)
class ToolCall:
    """A call the model asked for; ``arguments`` is JSON text, as OpenAI sends it."""

    id: str
    name: str
    arguments: str

    def openai(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }

    @classmethod
    def from_langchain(cls, call: dict[str, Any]) -> ToolCall:
        """From a LangChain ``tool_calls`` (parsed args) or ``invalid_tool_calls`` (raw) entry."""
        args = call.get("args")
        text = args if isinstance(args, str) else json.dumps(args or {})
        return cls(id=str(call.get("id") or ""), name=str(call.get("name") or ""), arguments=text)


@dataclass
class Generation:
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool = False
    top_logprobs: int | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    # "auto" / "none" / "required", or the name of the one function the model must call
    tool_choice: ToolChoice | str = "auto"
    parallel_tool_calls: bool | None = None
    # OpenAI's shape: {"type": "json_object"} or {"type": "json_schema", "json_schema": {...}}
    response_format: dict[str, Any] | None = None
    # passed through to an OpenAI-compatible server as they are (reasoning_effort, verbosity)
    passthrough: dict[str, Any] = field(default_factory=dict)

    @property
    def forced_tool(self) -> str | None:
        return None if self.tool_choice in ("auto", "none", "required") else self.tool_choice

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any]) -> Generation:
        """The output constraints back from ``kwargs()`` (what a chat model is called with)."""
        choice = kwargs.get("tool_choice") or "auto"
        if isinstance(choice, dict):
            choice = choice["function"]["name"]
        tools = [
            ToolSpec(
                name=t["function"]["name"],
                parameters=t["function"].get("parameters") or {"type": "object"},
                description=t["function"].get("description", ""),
            )
            for t in kwargs.get("tools") or []
        ]
        return cls(tools=tools, tool_choice=choice, response_format=kwargs.get("response_format"))

    def kwargs(self) -> dict[str, Any]:
        """OpenAI-shaped keyword arguments for the chat model call (only what was asked for)."""
        out: dict[str, Any] = {
            name: value
            for name in (
                "temperature",
                "max_tokens",
                "top_p",
                "seed",
                "presence_penalty",
                "frequency_penalty",
                "logit_bias",
                "top_logprobs",
                "parallel_tool_calls",
                "response_format",
            )
            if (value := getattr(self, name)) is not None
        }
        if self.stop:
            out["stop"] = list(self.stop)
        if self.logprobs:
            out["logprobs"] = True
        if self.tools:
            out["tools"] = [t.openai() for t in self.tools]
            forced = self.forced_tool
            out["tool_choice"] = (
                {"type": "function", "function": {"name": forced}} if forced else self.tool_choice
            )
        out.update(self.passthrough)
        return out
