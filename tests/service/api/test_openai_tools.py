"""Agent-framework features through the real OpenAI SDK and LangChain, on the local 135M model:
tool calls whose arguments match the schema (grammar-constrained), the tool round trip,
structured output into pydantic models, stop sequences, prefill, and annotations."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest
from openai import BadRequestError
from pydantic import BaseModel

from tests.support.settings import TEST_KEY

pytestmark = [pytest.mark.models, pytest.mark.slow]
MODEL = "smollm2-135m-instruct"
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
ASK: Any = [{"role": "user", "content": "What is the weather in Paris right now?"}]


class CityFacts(BaseModel):
    city: str
    country: str
    population: int


def _arguments_match(arguments: str) -> dict[str, Any]:
    args = json.loads(arguments)
    jsonschema.validate(args, WEATHER["function"]["parameters"])
    return args


def test_tool_round_trip(sdk: Any) -> None:
    first = sdk.chat.completions.create(
        model=MODEL, messages=ASK, tools=[WEATHER], tool_choice="required"
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_weather"
    assert call.id.startswith("call_")
    _arguments_match(call.function.arguments)

    # the second step of every agent loop: the reply as the SDK gives it, then the tool result
    messages: list[Any] = [
        *ASK,
        choice.message,
        {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and raining"},
    ]
    final = sdk.chat.completions.create(
        model=MODEL, messages=messages, tools=[WEATHER], tool_choice="none"
    )
    assert final.choices[0].finish_reason in ("stop", "length")
    assert not final.choices[0].message.tool_calls
    assert "rain" in (final.choices[0].message.content or "").lower()  # the result reached it


def test_streamed_tool_call_in_openai_shape(sdk: Any) -> None:
    stream = sdk.chat.completions.create(
        model=MODEL,
        messages=ASK,
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        if not chunk.choices:
            continue
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += delta.id or ""
            entry["name"] += (delta.function.name or "") if delta.function else ""
            entry["arguments"] += (delta.function.arguments or "") if delta.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert [c["name"] for c in calls.values()] == ["get_weather"]
    _arguments_match(calls[0]["arguments"])


def test_auto_tool_choice_answers_or_calls_but_always_parses(sdk: Any) -> None:
    completion = sdk.chat.completions.create(model=MODEL, messages=ASK, tools=[WEATHER])
    message = completion.choices[0].message
    if message.tool_calls:
        assert completion.choices[0].finish_reason == "tool_calls"
        _arguments_match(message.tool_calls[0].function.arguments)
    else:
        assert message.content and not message.content.startswith("{")


def test_sdk_parse_into_a_pydantic_model(sdk: Any) -> None:
    completion = sdk.chat.completions.parse(
        model=MODEL,
        messages=[{"role": "user", "content": "Give the city, country and population of Paris."}],
        response_format=CityFacts,
    )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, CityFacts)


def test_json_object_mode_is_json(sdk: Any) -> None:
    completion = sdk.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Describe the Eiffel Tower as a JSON object."}],
        response_format={"type": "json_object"},
        max_tokens=200,
    )
    if completion.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)
    else:  # cut off by max_tokens: still a JSON prefix
        assert (completion.choices[0].message.content or "").startswith("{")


def test_stop_sequences_plain_and_streamed(sdk: Any) -> None:
    ask: list[Any] = [
        {"role": "user", "content": "Count from 1 to 10, one number per line."},
        {"role": "assistant", "content": "1\n2\n3\n"},  # a prefill keeps the small model on task
    ]
    plain = sdk.chat.completions.create(model=MODEL, messages=ask, stop=["5"])
    text = plain.choices[0].message.content or ""
    assert text.startswith("4") and "5" not in text
    streamed = "".join(
        c.choices[0].delta.content or ""
        for c in sdk.chat.completions.create(model=MODEL, messages=ask, stop="5", stream=True)
        if c.choices
    )
    assert streamed.startswith("4") and "5" not in streamed


def test_assistant_prefill_is_continued(sdk: Any) -> None:
    completion = sdk.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": "List three primary colours."},
            {"role": "assistant", "content": "1. Red\n2."},
        ],
        max_tokens=12,
    )
    assert completion.choices[0].message.content
    assert not completion.choices[0].message.content.startswith("1. Red")


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"reasoning_effort": "low"}, "reasoning_effort"),
        ({"extra_body": {"best_of": 3}}, "best_of"),
        ({"extra_body": {"audio": {"voice": "alloy", "format": "wav"}}}, "audio"),
    ],
)
def test_what_the_backend_cannot_do_is_a_400_naming_it(
    sdk: Any, extra: dict[str, Any], param: str
) -> None:
    with pytest.raises(BadRequestError) as info:
        sdk.chat.completions.create(model=MODEL, messages=ASK, **extra)
    error = info.value.body
    assert isinstance(error, dict)
    assert error.get("param") == param, error
    assert param in error["message"]


def test_annotations_point_at_the_cited_document(sdk: Any) -> None:
    completion = sdk.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "How tall is the Eiffel Tower?"}]
    )
    notes = completion.choices[0].message.annotations or []
    assert notes and all(n.type == "url_citation" for n in notes)
    eiffel = [n for n in notes if "eiffel" in n.url_citation.title]
    assert eiffel, [n.url_citation.title for n in notes]
    doc = httpx.get(
        eiffel[0].url_citation.url, headers={"Authorization": f"Bearer {TEST_KEY}"}
    ).json()
    assert doc["object"] == "document" and doc["source"].endswith("eiffel.html")
    streamed = [
        a
        for chunk in sdk.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "How tall is the Eiffel Tower?"}],
            stream=True,
        )
        if chunk.choices
        for a in (chunk.choices[0].delta.model_extra or {}).get("annotations") or []
    ]
    assert [a["url_citation"]["url"] for a in streamed] == [n.url_citation.url for n in notes]


def test_langchain_tools_and_structured_output(live_server: str) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=f"{live_server}/v1", api_key=TEST_KEY, model=MODEL, max_retries=0)
    reply = llm.bind_tools([WEATHER], tool_choice="get_weather").invoke(ASK[0]["content"])
    assert reply.tool_calls and reply.tool_calls[0]["name"] == "get_weather"
    jsonschema.validate(reply.tool_calls[0]["args"], WEATHER["function"]["parameters"])
    for method in ("json_schema", "function_calling"):
        facts = llm.with_structured_output(CityFacts, method=method).invoke(
            "Give the city, country and population of Paris."
        )
        assert isinstance(facts, CityFacts), method
    streamed = llm.bind_tools([WEATHER], tool_choice="required").stream(ASK[0]["content"])
    total: Any = None
    for chunk in streamed:
        total = chunk if total is None else total + chunk
    assert total is not None and total.tool_calls[0]["name"] == "get_weather"
