"""The local model caught saying one phrase over and over is stopped there, not at max_tokens
(llm/loops.py): plain, streamed and stepping aside alike; never under a grammar."""

from __future__ import annotations

import operator
from functools import reduce
from typing import Any

import pytest
from langchain_core.messages import BaseMessage, HumanMessage

from assistant import metrics
from assistant.llm.grammar import constraint_for
from assistant.llm.llamacpp import LlamaCppChat, packaged_gguf
from assistant.llm.options import Generation

pytestmark = [pytest.mark.models]
BUDGET = 200
SPAN = 48
PROMPT: list[BaseMessage] = [HumanMessage("Sing.")]


def _model(loop_stop_tokens: int) -> LlamaCppChat:
    chat = LlamaCppChat(
        model_path=str(packaged_gguf()), max_tokens=BUDGET, loop_stop_tokens=loop_stop_tokens
    )
    chat.load()
    return chat


@pytest.fixture(scope="module")
def model() -> LlamaCppChat:
    return _model(SPAN)


def _chorus(model: LlamaCppChat) -> dict[str, Any]:
    """A bias that makes the model say " la" at every token: a loop on cue."""
    [token] = model.load().tokenize(b" la", add_bos=False, special=False)
    return {"logit_bias": {str(token): 100.0}}


def test_a_loop_is_stopped_after_the_span_plain_streamed_and_in_the_background(
    model: LlamaCppChat,
) -> None:
    bias = _chorus(model)
    stopped = metrics.LLM_LOOPS_STOPPED.labels(model.model_name)
    before = stopped._value.get()
    plain = model.invoke(PROMPT, **bias)
    assert plain.text.startswith(" la la la") and set(plain.text.split()) == {"la"}
    usage = plain.usage_metadata
    assert usage is not None and SPAN <= usage["output_tokens"] < SPAN + 4
    assert plain.response_metadata["finish_reason"] == "stop"
    streamed = reduce(operator.add, model.stream(PROMPT, **bias))
    assert streamed.text == plain.text and streamed.usage_metadata == usage
    background = model.invoke(PROMPT, priority="background", **bias)
    assert background.text == plain.text
    assert stopped._value.get() == before + 3  # each counted once


def test_without_the_guard_it_runs_to_max_tokens(model: LlamaCppChat) -> None:
    unguarded = _model(0)
    answer = unguarded.invoke(PROMPT, **_chorus(model))
    assert answer.usage_metadata and answer.usage_metadata["output_tokens"] == BUDGET
    assert answer.response_metadata["finish_reason"] == "length"


def test_a_grammar_is_never_cut_short(model: LlamaCppChat) -> None:
    """A JSON document cut in its middle would be no JSON: under a grammar, no loop check."""
    json_mode = constraint_for(Generation(response_format={"type": "json_object"}))
    assert "stopping_criteria" not in model._params(None, {}, json_mode, 10)
    assert "stopping_criteria" in model._params(None, {}, constraint_for(Generation()), 10)
