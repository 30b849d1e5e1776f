"""The encoders as tools (``llm.tools``) against a tool-calling upstream (a fake speaking the
wire protocol, scripted): our calls are resolved inside and cited, the client's come back to
the client, and a model that keeps calling tools is stopped by the round limit and the budget."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.apps import app_over_upstream, services_of
from tests.support.settings import AUTH
from tests.support.upstream import REPLY, FakeUpstream

MODEL = "tool-model"
NOTES = "# Lighthouse\n\nThe lighthouse keeper rings the bell at seven every evening.\n"
WEATHER: Any = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}
Served = tuple[TestClient, FakeUpstream]


def _served(root: Path, **llm: Any) -> Iterator[Served]:
    with app_over_upstream(root, {"model_name": MODEL, "tools": True, **llm}) as (client, fake):
        response = client.post(
            "/v1/documents", headers=AUTH, files={"file": ("lighthouse.md", NOTES.encode())}
        )
        assert response.status_code == 201, response.text
        yield client, fake


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from _served(tmp_path_factory.mktemp("tools"), max_tool_rounds=2)


@pytest.fixture(scope="module")
def hurried(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from _served(tmp_path_factory.mktemp("hurried"), tool_budget_s=0.001)


@pytest.fixture(autouse=True)
def fresh(request: pytest.FixtureRequest) -> None:
    for name in ("served", "hurried"):
        if name in request.fixturenames:
            upstream = request.getfixturevalue(name)[1]
            upstream.requests.clear()
            upstream.script.clear()
            upstream.stubborn = None


def _chat(client: TestClient, question: str, **extra: Any) -> dict[str, Any]:
    body = {"model": MODEL, "messages": [{"role": "user", "content": question}], **extra}
    response = client.post("/v1/chat/completions", headers=AUTH, json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _tool_names(request: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools", [])]


def test_a_search_call_is_resolved_inside_and_its_source_cited(served: Served) -> None:
    client, upstream = served
    upstream.script = [
        {"tool": "search_knowledge", "arguments": {"query": "when is the bell rung"}},
        {"content": "At seven [1]."},
    ]
    completion = _chat(client, "Tell me about the keeper's evening routine")
    assert completion["choices"][0]["message"]["content"] == "At seven [1]."
    assert completion["choices"][0]["message"].get("tool_calls") in (None, [])
    first, second = upstream.requests
    assert "search_knowledge" in _tool_names(first)  # attachments-only tools are not offered
    assert "look_closer" not in _tool_names(first)
    tool_reply = second["messages"][-1]
    assert tool_reply["role"] == "tool" and "rings the bell at seven" in tool_reply["content"]
    assert second["messages"][-2]["tool_calls"][0]["function"]["name"] == "search_knowledge"
    cited = [c for c in completion["citations"] if c["source"] == "lighthouse.md"]
    assert len(cited) == 2  # the first retrieval, and the tool's own search with its number
    assert f'<source id="{cited[1]["index"]}"' in tool_reply["content"]
    metrics = client.get("/metrics").text
    assert 'assistant_tool_calls_total{outcome="ok",tool="search_knowledge"}' in metrics


def test_the_round_limit_stops_a_model_that_keeps_calling(served: Served) -> None:
    client, upstream = served
    upstream.stubborn = "search_knowledge"
    completion = _chat(client, "Keep searching")
    assert completion["choices"][0]["message"]["content"] == REPLY
    assert len(upstream.requests) == 3  # two rounds (the setting), then an answer
    assert upstream.requests[-1]["tool_choice"] == "none"


def test_the_time_budget_stops_it_too(hurried: Served) -> None:
    client, upstream = hurried
    upstream.stubborn = "search_knowledge"
    completion = _chat(client, "Keep searching")
    assert completion["choices"][0]["message"]["content"] == REPLY
    assert len(upstream.requests) == 2
    assert upstream.requests[-1]["tool_choice"] == "none"


def test_the_clients_own_tool_call_goes_back_to_the_client(served: Served) -> None:
    client, upstream = served
    upstream.script = [{"tool": "get_weather", "arguments": {}}]
    completion = _chat(client, "Weather?", tools=[WEATHER])
    [call] = completion["choices"][0]["message"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    assert completion["choices"][0]["finish_reason"] == "tool_calls"
    assert _tool_names(upstream.requests[0]) == ["get_weather", "search_knowledge"]


def test_a_client_tool_of_the_same_name_wins(served: Served) -> None:
    client, upstream = served
    theirs = {"type": "function", "function": {"name": "search_knowledge", "parameters": {}}}
    upstream.script = [{"tool": "search_knowledge", "arguments": {"q": "x"}}]
    completion = _chat(client, "Search yours", tools=[theirs])
    [call] = completion["choices"][0]["message"]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"q": "x"}  # not run inside
    assert _tool_names(upstream.requests[0]) == ["search_knowledge"]  # offered once: theirs


def test_tool_choice_none_offers_no_tools(served: Served) -> None:
    client, upstream = served
    _chat(client, "Just answer", tools=[WEATHER], tool_choice="none")
    assert _tool_names(upstream.requests[0]) == ["get_weather"]


def test_bad_arguments_are_the_tools_answer_not_a_failure(served: Served) -> None:
    client, upstream = served
    upstream.script = [
        {"tool": "look_closer", "arguments": {"attachment": 9, "start_s": 0, "end_s": 1}},
        {"tool": "search_knowledge", "arguments": {"wrong": 1}},
        {"content": "Sorry."},
    ]
    completion = _chat(client, "Look")
    assert completion["choices"][0]["message"]["content"] == "Sorry."
    replies = [m["content"] for m in upstream.requests[-1]["messages"] if m["role"] == "tool"]
    assert replies[0].startswith("error: bad arguments for look_closer")
    assert "no attachment 9" in replies[0]
    assert replies[1].startswith("error: bad arguments for search_knowledge")


def test_streamed_answers_run_the_tools_too(served: Served) -> None:
    client, upstream = served
    upstream.script = [
        {"tool": "search_knowledge", "arguments": {"query": "bell"}},
        {"content": "Seven."},
    ]
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Bell?"}], "stream": True}
    with client.stream("POST", "/v1/chat/completions", headers=AUTH, json=body) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data: {")]
    deltas = [json.loads(line[6:]) for line in lines]
    text = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in deltas if c.get("choices")
    )
    assert text.strip() == "Seven."
    assert len(upstream.requests) == 2 and upstream.requests[1]["messages"][-1]["role"] == "tool"
    assert services_of(client).orchestrator.tools is not None


def test_what_a_tool_brought_is_evidence_for_the_answers_claims(tmp_path: Path) -> None:
    """With the claim check on (``llm.flag_unsupported``), a name only the tool's own search
    found is supported; one nothing brought is named."""
    harbour = b"# Harbour\n\nThe harbour master is Tomas Quill, on duty at the quay since 1998.\n"
    llm = {"model_name": MODEL, "tools": True, "flag_unsupported": True}
    with app_over_upstream(tmp_path, llm, retrieval={"top_k": 1}) as (client, upstream):
        for name, text in (("lighthouse.md", NOTES.encode()), ("harbour.md", harbour)):
            files = {"file": (name, text)}
            response = client.post("/v1/documents", headers=AUTH, files=files)
            assert response.status_code == 201, response.text
        question = "When does the lighthouse keeper ring the bell, and who runs the harbour?"
        for answer, named in (
            ("At seven; the harbour master is Tomas Quill [2].", []),
            ("At seven; the harbour master is Tomas Brack [2].", ["Tomas Brack"]),
        ):
            upstream.requests.clear()
            upstream.script = [
                {"tool": "search_knowledge", "arguments": {"query": "harbour master"}},
                {"content": answer},
            ]
            completion = _chat(client, question)
            first = upstream.requests[0]["messages"][-1]["content"]
            assert "lighthouse keeper rings" in first and "Quill" not in first
            assert "Tomas Quill" in upstream.requests[1]["messages"][-1]["content"]
            assert completion["unsupported"] == named
