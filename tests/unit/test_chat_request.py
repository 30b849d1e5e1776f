"""The chat request schema: what it accepts, what it refuses (naming the part), how it becomes
generation options, and how a Responses body becomes the same chat request."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from assistant.chat.request import ChatCompletionRequest
from assistant.chat.responses_request import ResponsesRequest
from assistant.config import LLMSettings
from assistant.errors import InvalidRequest
from assistant.llm.grammar import constraint_for
from assistant.llm.options import Generation, ToolSpec, supported_parameters

TOOL = {
    "type": "function",
    "function": {"name": "f", "parameters": {"type": "object", "properties": {}}},
}


def _request(**body: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], **body}
    )


def _error(**body: Any) -> str:
    with pytest.raises(ValidationError) as info:
        _request(**body)
    return str(info.value)


def test_generation_carries_every_parameter_asked_for() -> None:
    body = _request(
        tools=[TOOL],
        tool_choice={"type": "function", "function": {"name": "f"}},
        stop="END",
        seed=3,
        top_p=0.5,
        max_completion_tokens=9,
        response_format={"type": "json_object"},
    )
    kwargs = body.generation().kwargs()
    assert kwargs["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert (kwargs["stop"], kwargs["seed"], kwargs["top_p"], kwargs["max_tokens"]) == (
        ["END"],
        3,
        0.5,
        9,
    )
    assert kwargs["response_format"] == {"type": "json_object"}
    assert set(body.parameters_set()) >= {"tools", "tool_choice", "stop", "seed", "top_p"}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": 5}}}]},
         "not a valid JSON Schema"),
        ({"tool_choice": "required"}, "tool_choice needs tools"),
        ({"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "g"}}},
         "not in tools"),
        ({"tools": [TOOL, TOOL]}, "same name"),
        ({"n": 3}, "only n=1"),
        ({"top_logprobs": 2}, "needs logprobs"),
        ({"store": True}, "store"),
        ({"messages": [{"role": "user", "content": [{"type": "video_url", "x": 1}]}]},
         "part 0 has type 'video_url'"),
        ({"messages": [{"role": "user", "content": "a"},
                       {"role": "assistant", "tool_calls": [
                           {"id": "c1", "type": "function",
                            "function": {"name": "f", "arguments": "not json"}}]},
                       {"role": "tool", "tool_call_id": "c1", "content": "x"}]},
         "JSON object"),
    ],
)  # fmt: skip
def test_refusals_say_what_is_wrong(body: dict[str, Any], needle: str) -> None:
    assert needle in _error(**body)


def test_a_bare_string_image_url_is_accepted() -> None:
    body = _request(
        messages=[
            {"role": "user", "content": [{"type": "image_url", "image_url": "https://x/y.png"}]}
        ]
    )
    assert body.messages[0].media_parts()[0].image_url.url == "https://x/y.png"  # type: ignore[union-attr]


def test_backends_declare_what_they_honour() -> None:
    local = supported_parameters(LLMSettings(provider="local"))
    assert "tools" in local and "logprobs" not in local and "reasoning_effort" not in local
    assert "logprobs" in supported_parameters(LLMSettings(provider="local", logprobs=True))
    remote = supported_parameters(LLMSettings(provider="openai", base_url="http://up/v1"))
    assert {"logprobs", "reasoning_effort", "tools"} <= remote


def test_constraints_for_tools_and_json() -> None:
    tool = ToolSpec("f", {"type": "object", "properties": {"a": {"type": "integer"}}})
    assert constraint_for(Generation(tools=[tool])).mode == "call_or_text"
    assert constraint_for(Generation(tools=[tool], tool_choice="required")).mode == "call"
    assert constraint_for(Generation(tools=[tool], tool_choice="none")).mode == "text"
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    assert constraint_for(Generation(response_format=schema)).mode == "json"
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "http://x"}}}
    with pytest.raises(InvalidRequest, match="cannot follow"):
        constraint_for(Generation(response_format=bad))


def test_a_responses_body_becomes_the_same_chat_request() -> None:
    body = ResponsesRequest.model_validate(
        {
            "model": "m",
            "instructions": "Be brief.",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "f", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "sun"},
                {"type": "function_call_output", "call_id": "c2", "output": "rain"},
            ],
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            "max_output_tokens": 20,
            "text": {"format": {"type": "json_schema", "name": "o", "schema": {"type": "object"}}},
        }
    )
    chat = body.chat_request()
    assert [m.role for m in chat.messages] == ["system", "user", "assistant", "tool", "tool"]
    assert [c.id for c in chat.messages[2].tool_calls or []] == ["c1", "c2"]
    assert chat.max_completion_tokens == 20
    assert chat.response_format is not None and chat.response_format.type == "json_schema"
    with pytest.raises(InvalidRequest, match="no earlier assistant message"):
        ResponsesRequest.model_validate(
            {"model": "m", "input": [
                {"role": "user", "content": "x"},
                {"type": "function_call_output", "call_id": "zz", "output": "?"}]}
        ).chat_request()  # fmt: skip


def test_background_requests_are_the_ones_no_person_waits_on() -> None:
    assert not _request().background()
    assert not _request(service_tier="priority").background()
    assert _request(service_tier="flex").background()
    title = "### Task:\nGenerate a concise, 3-5 word title with an emoji summarizing the chat."
    assert _request(messages=[{"role": "user", "content": title}]).background()
    # only an opening recognises a task: a person may quote one in a question
    quoted = f"What does this prompt do? {title}"
    assert not _request(messages=[{"role": "user", "content": quoted}]).background()
