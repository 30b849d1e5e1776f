"""The Responses API (``client.responses``) through the real OpenAI SDK on the local model:
grounded text with url_citation annotations, the streamed event sequence, a function-call round
trip with ``function_call_output``, structured output, and refusals that name the parameter."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai import BadRequestError
from pydantic import BaseModel

from tests.support.settings import TEST_KEY

pytestmark = [pytest.mark.models, pytest.mark.slow]
MODEL = "smollm2-135m-instruct"
WEATHER: Any = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


class Height(BaseModel):
    metres: int


def test_text_answer_with_annotations(sdk: Any) -> None:
    response = sdk.responses.create(model=MODEL, input="How tall is the Eiffel Tower?")
    assert response.status == "completed" and "330" in response.output_text
    (message,) = response.output
    notes = message.content[0].annotations
    assert any(n.type == "url_citation" and "eiffel" in n.title for n in notes)
    assert response.usage.output_tokens > 0


def test_streamed_events_in_order(sdk: Any) -> None:
    kinds, deltas, final = [], [], None
    with sdk.responses.stream(
        model=MODEL, input="How tall is the Eiffel Tower?", instructions="Answer briefly."
    ) as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert kinds.index("response.output_item.added") < kinds.index("response.output_text.delta")
    assert len(deltas) > 2 and "".join(deltas) == final.output_text
    assert "response.output_text.annotation.added" in kinds  # sources, while streaming
    assert "330" in final.output_text


def test_function_call_round_trip(sdk: Any) -> None:
    first = sdk.responses.create(
        model=MODEL, input="What is the weather in Paris?", tools=[WEATHER], tool_choice="required"
    )
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and isinstance(json.loads(call.arguments)["city"], str)
    second = sdk.responses.create(
        model=MODEL,
        input=[
            {"role": "user", "content": "What is the weather in Paris?"},
            call,
            {
                "type": "function_call_output",
                "call_id": call.call_id,
                "output": "18 degrees and raining",
            },
        ],
        tools=[WEATHER],
        tool_choice="none",
    )
    assert "rain" in second.output_text.lower()  # the tool's result reached the model


def test_streamed_function_call(sdk: Any) -> None:
    kinds = []
    with sdk.responses.stream(
        model=MODEL,
        input="What is the weather in Paris?",
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert "response.function_call_arguments.done" in kinds
    assert "response.output_text.delta" not in kinds
    assert [item.type for item in final.output] == ["function_call"]


def test_parse_structured_output(sdk: Any) -> None:
    response = sdk.responses.parse(
        model=MODEL, input="How tall is the Eiffel Tower in metres?", text_format=Height
    )
    assert isinstance(response.output_parsed, Height)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"previous_response_id": "resp_123"}, "previous_response_id"),
        ({"store": True}, "store"),
        ({"reasoning": {"effort": "low"}}, "reasoning"),
        ({"tools": [{"type": "web_search"}]}, "tools"),
    ],
)
def test_outside_the_subset_is_a_400_naming_it(sdk: Any, extra: dict[str, Any], param: str) -> None:
    with pytest.raises(BadRequestError) as info:
        sdk.responses.create(model=MODEL, input="hi", **extra)
    assert param in info.value.body["message"]  # type: ignore[index]


def test_langchain_gets_the_sources_through_the_responses_api(live_server: str) -> None:
    # ChatOpenAI's chat-completions path drops annotations; its Responses path keeps them
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        base_url=f"{live_server}/v1",
        api_key=TEST_KEY,
        model=MODEL,
        use_responses_api=True,
        max_retries=0,
    )
    plain = llm.invoke("How tall is the Eiffel Tower?")
    total: Any = None
    for chunk in llm.stream("How tall is the Eiffel Tower?"):
        total = chunk if total is None else total + chunk
    for message in (plain, total):
        blocks = [b for b in message.content if isinstance(b, dict)]
        notes = [a for b in blocks for a in b.get("annotations") or []]
        assert any(a["type"] == "url_citation" and "eiffel" in a["title"] for a in notes), blocks
