"""Which token runs are a loop (llm/loops.py)."""

from __future__ import annotations

import pytest

from assistant.llm.loops import MIN_REPEATS, repeating

pytestmark = pytest.mark.unit


def test_one_phrase_said_over_the_span_is_a_loop() -> None:
    phrase = [11, 12, 13, 14, 15]  # "I'm sorry.\n\n"
    assert repeating([1, 2, 3] + phrase * 10, min_span=48)
    assert repeating([7] * 48, min_span=48)  # " la la la ..."
    # a phrase as long as the span allows, said the least number of times
    assert repeating(list(range(20)) * MIN_REPEATS, min_span=48)


def test_varied_text_and_short_or_few_repeats_are_not() -> None:
    assert not repeating(list(range(300)), min_span=48)
    assert not repeating([7] * 47, min_span=48)  # under the span
    assert not repeating([1, 2, 3] + [11, 12, 13, 14, 15] * 9 + [16], min_span=48)  # it moved on
    # a long phrase said only three times, however many tokens that covers
    assert not repeating(list(range(30)) * 3, min_span=48)
    # "0, 0, 0, 0": a short list is no loop
    assert not repeating([5, 9] * 6, min_span=48)
