"""Grammar-constrained output for the local model: tool calls and JSON that always parse.

llama.cpp samples only tokens a GBNF grammar allows, so even the 135M model emits a tool call
whose arguments match the tool's JSON Schema, or a JSON document matching ``response_format``.
``tool_choice="auto"`` lets the model choose: the grammar is "a tool call, or text that does not
start with ``{``", so the first token says which it chose, and streamed text stays text.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import ToolCall

from assistant.errors import InvalidRequest
from assistant.llm.options import Generation, ToolSpec

Mode = Literal["text", "json", "call", "call_or_text"]

# free text that cannot be mistaken for a tool call
_TEXT_RULES = "\ntext ::= [^{ \\t\\n\\x00] [^\\x00]*\n"


@dataclass(frozen=True)
class Constraint:
    mode: Mode
    gbnf: str | None = None
    instruction: str = ""


def _call_schema(tools: list[ToolSpec]) -> dict[str, Any]:
    return {
        "anyOf": [
            {
                "type": "object",
                "properties": {"name": {"const": t.name}, "arguments": t.parameters},
                "required": ["name", "arguments"],
            }
            for t in tools
        ]
    }


def _to_gbnf(schema: dict[str, Any], param: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return str(json_schema_to_gbnf(json.dumps(schema)))
    except Exception as exc:  # the converter raises bare exceptions for what it cannot express
        raise InvalidRequest(
            f"{param}: the local model cannot follow this JSON Schema ({exc})", param=param
        ) from exc


def _describe(tools: list[ToolSpec]) -> str:
    listed = [
        {"name": t.name, "description": t.description, "parameters": t.parameters} for t in tools
    ]
    return json.dumps(listed, ensure_ascii=False)


def constraint_for(gen: Generation) -> Constraint:
    """What the output must look like, as a grammar and an instruction for the system prompt."""
    tools = gen.tools if gen.tool_choice != "none" else []
    if gen.forced_tool:
        tools = [t for t in tools if t.name == gen.forced_tool]
    if tools:
        shape = 'a JSON object {"name": "<tool name>", "arguments": {<arguments>}}'
        gbnf = _to_gbnf(_call_schema(tools), "tools")
        listing = f"You can call these tools: {_describe(tools)}\n"
        if gen.tool_choice == "auto":
            return Constraint(
                "call_or_text",
                gbnf.replace("root ::=", "call ::=", 1) + "\nroot ::= call | text" + _TEXT_RULES,
                listing + f"To call a tool, reply with only {shape}. Otherwise answer in words.",
            )
        return Constraint("call", gbnf, listing + f"Call a tool: reply with only {shape}.")
    fmt = gen.response_format or {}
    if fmt.get("type") == "json_object":
        from llama_cpp.llama_grammar import JSON_GBNF

        return Constraint("json", JSON_GBNF, "Reply with only a JSON object.")
    if fmt.get("type") == "json_schema":
        schema = fmt.get("json_schema", {}).get("schema") or {"type": "object"}
        return Constraint(
            "json",
            _to_gbnf(schema, "response_format.json_schema.schema"),
            "Reply with only a JSON object that matches this JSON Schema: "
            + json.dumps(schema, ensure_ascii=False),
        )
    if gen.tools:  # tools defined but not to be called now: words, not a call's imitation
        return Constraint("text", "root ::= text" + _TEXT_RULES, "Answer in words.")
    return Constraint("text")


def parse_call(text: str) -> ToolCall:
    """The tool call in a constrained output (the grammar guarantees the shape), as LangChain
    carries one: parsed arguments and a fresh OpenAI-style id."""
    data = json.loads(text)
    return ToolCall(
        name=str(data["name"]), args=data["arguments"], id=f"call_{uuid.uuid4().hex[:24]}"
    )


def render_call(call: dict[str, Any]) -> str:
    """An earlier tool call as the model itself would have written it (for the history)."""
    return json.dumps({"name": call["name"], "arguments": call.get("args", {})})
