"""With an OpenAI-compatible LLM server behind the API (``llm.provider=openai``), what the client
asks for reaches that server, and its tool calls and logprobs come back to the client, plain and
streamed. The upstream is a fake that speaks the wire protocol (tests/support/upstream.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openai import OpenAI

from tests.support.apps import app_over_upstream
from tests.support.settings import TEST_KEY
from tests.support.upstream import REPLY, FakeUpstream

MODEL = "upstream-model"
TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
ASK: Any = [{"role": "user", "content": "Weather in Paris?"}]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, FakeUpstream]]:
    llm = {"api_key": "upstream-secret", "model_name": MODEL}
    with app_over_upstream(tmp_path_factory.mktemp("passthrough"), llm) as served:
        yield served


@pytest.fixture(scope="module")
def upstream(served: tuple[TestClient, FakeUpstream]) -> FakeUpstream:
    return served[1]


@pytest.fixture(scope="module")
def client(served: tuple[TestClient, FakeUpstream]) -> TestClient:
    return served[0]


@pytest.fixture
def sdk(client: TestClient) -> OpenAI:
    return OpenAI(
        base_url="http://testserver/v1", api_key=TEST_KEY, http_client=client, max_retries=0
    )


def _last(upstream: FakeUpstream) -> dict[str, Any]:
    return upstream.requests[-1]


def test_tools_and_sampling_reach_the_upstream_and_calls_come_back(
    sdk: Any, upstream: FakeUpstream
) -> None:
    completion = sdk.chat.completions.create(
        model=MODEL,
        messages=ASK,
        tools=[TOOL],
        tool_choice="required",
        parallel_tool_calls=False,
        stop=["END"],
        seed=7,
        top_p=0.5,
        presence_penalty=0.5,
        reasoning_effort="low",
    )
    sent = _last(upstream)
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["tool_choice"] == "required"
    assert sent["parallel_tool_calls"] is False
    assert (sent["stop"], sent["seed"], sent["top_p"]) == (["END"], 7, 0.5)
    assert sent["presence_penalty"] == 0.5 and sent["reasoning_effort"] == "low"
    assert sent["messages"][-1]["role"] == "user"  # the grounded question, sent last
    (call,) = completion.choices[0].message.tool_calls or []
    assert (call.id, call.function.name) == ("call_upstream1", "get_weather")
    assert completion.choices[0].finish_reason == "tool_calls"


def test_tool_results_go_upstream_as_tool_messages(sdk: Any, upstream: FakeUpstream) -> None:
    call = {
        "id": "call_a",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    messages: list[Any] = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_a", "content": "sunny"},
    ]
    completion = sdk.chat.completions.create(
        model=MODEL, messages=messages, tools=[TOOL], tool_choice="none"
    )
    assert completion.choices[0].message.content == REPLY
    sent = _last(upstream)["messages"]
    assert [m["role"] for m in sent[-2:]] == ["assistant", "tool"]
    assert sent[-2]["tool_calls"][0]["id"] == "call_a"
    assert (sent[-1]["tool_call_id"], sent[-1]["content"]) == ("call_a", "sunny")


def test_response_format_and_logprobs_pass_through(sdk: Any, upstream: FakeUpstream) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    completion = sdk.chat.completions.create(
        model=MODEL,
        messages=ASK,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        logprobs=True,
        top_logprobs=2,
    )
    sent = _last(upstream)
    assert sent["response_format"]["json_schema"]["schema"] == schema
    assert (sent["logprobs"], sent["top_logprobs"]) == (True, 2)
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.content and logprobs.content[0].token == "Up"


def test_streamed_tool_call_from_upstream(sdk: Any, upstream: FakeUpstream) -> None:
    names, finish = [], None
    for chunk in sdk.chat.completions.create(model=MODEL, messages=ASK, tools=[TOOL], stream=True):
        if chunk.choices:
            names += [
                d.function.name for d in chunk.choices[0].delta.tool_calls or [] if d.function
            ]
            finish = chunk.choices[0].finish_reason or finish
    assert _last(upstream)["stream"] is True
    assert (names, finish) == (["get_weather"], "tool_calls")
