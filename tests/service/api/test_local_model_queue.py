"""The one local model under a burst: a person's call does not wait for background generations,
and a background generation that stepped aside for it still finishes."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from langchain_core.messages import HumanMessage

from assistant.llm.llamacpp import LlamaCppChat, packaged_gguf

pytestmark = [pytest.mark.models, pytest.mark.slow]
STORY = "Write a long story about a lighthouse keeper and the storms of one winter."
MAX_TOKENS = 160


@pytest.fixture(scope="module")
def model() -> LlamaCppChat:
    chat = LlamaCppChat(model_path=str(packaged_gguf()), max_tokens=MAX_TOKENS)
    chat.load()
    return chat


def _background_story(model: LlamaCppChat, started: threading.Event, out: dict[str, Any]) -> None:
    parts: list[str] = []
    usage: dict[str, Any] = {}
    for chunk in model.stream([HumanMessage(STORY)], priority="background"):
        if chunk.text:
            parts.append(chunk.text)
            started.set()
        usage = dict(chunk.usage_metadata or usage)
    out.update(text="".join(parts), usage=usage)
    out["order"].append("story")


def test_a_person_goes_first_and_the_story_still_finishes(model: LlamaCppChat) -> None:
    alone = model.invoke([HumanMessage(STORY)], priority="background")
    assert alone.usage_metadata and alone.usage_metadata["output_tokens"] >= 60  # a long one

    started = threading.Event()
    out: dict[str, Any] = {"order": []}
    thread = threading.Thread(target=_background_story, args=(model, started, out))
    thread.start()
    assert started.wait(60)  # the story is generating: the model is held
    answer = model.invoke([HumanMessage("What is the capital of France?")])
    out["order"].append("person")
    thread.join(120)
    assert out["order"] == ["person", "story"]  # the person did not wait for the story
    assert answer.text.strip()
    # the story resumed and ended as a whole generation does: within its token budget
    assert out["text"].strip() and out["usage"]["output_tokens"] <= MAX_TOKENS
    assert out["usage"]["input_tokens"] > 0


def test_constrained_background_output_is_not_interrupted(model: LlamaCppChat) -> None:
    # a grammar's state would not survive a resumption: JSON output runs to its end, whole
    schema = {
        "type": "json_schema",
        "json_schema": {
            "name": "tags",
            "schema": {
                "type": "object",
                "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
                "required": ["tags"],
            },
        },
    }
    assert not model._preemptible("background", _constraint(schema), {})
    assert model._preemptible("background", _constraint(None), {})
    assert not model._preemptible("interactive", _constraint(None), {})
    assert not model._preemptible("background", _constraint(None), {"logprobs": True})


def _constraint(response_format: dict[str, Any] | None) -> Any:
    from assistant.llm.grammar import constraint_for
    from assistant.llm.options import Generation

    return constraint_for(Generation(response_format=response_format))


def test_a_person_does_not_wait_for_a_background_prompt_to_be_read(model: LlamaCppChat) -> None:
    """llama.cpp cannot stop inside one read of a prompt; a background prompt is read a chunk
    at a time, so a person's call that comes while a long one is read goes before the
    background generation's first token (a whole read first would put that token first)."""
    long_prompt = "Summarise these notes.\n" + "The keeper lit the lamp at dusk. " * 150
    order: list[str] = []

    def background() -> None:
        for chunk in model.stream([HumanMessage(long_prompt)], priority="background"):
            if chunk.text:
                order.append("story's first token")
                return

    thread = threading.Thread(target=background)
    thread.start()
    while not model._lock._held:  # the background call holds the model: it is reading
        threading.Event().wait(0.001)
    model.invoke([HumanMessage("What is the capital of France?")])
    order.append("person")
    thread.join(120)
    assert order == ["person", "story's first token"]


def test_a_prompt_read_in_chunks_answers_as_one_read_at_once(model: LlamaCppChat) -> None:
    question = [HumanMessage("In one sentence: what does a lighthouse keeper do?")]
    at_once = model.invoke(question)
    model.invoke([HumanMessage("Something else, to leave another prompt in the cache.")])
    in_chunks = model.invoke(question, priority="background")
    assert in_chunks.text == at_once.text
