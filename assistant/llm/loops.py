"""A generation caught in a loop is stopped there, not at ``max_tokens``.

At temperature 0 with no repeat penalty (grounded answers copy the sources' words, and a
penalty makes a small model paraphrase numbers wrongly), SmolLM2-135M sometimes falls into
saying one phrase over and over ("I'm sorry.\\n\\nI'm sorry.\\n\\n..."): the person waits for
every remaining token of nothing new. The check is on token ids, at each generated token:
whether the last tokens are one run of tokens said ``MIN_REPEATS`` times or more in a row,
covering at least ``min_span`` tokens. Not under a grammar (a JSON document cut short is not
valid JSON, and a grammar bounds its output itself).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from assistant import metrics

log = logging.getLogger(__name__)
MIN_REPEATS = 4
MAX_PERIOD = 64  # tokens in the repeated phrase, at most


def repeating(generated: Sequence[int], min_span: int) -> bool:
    """Whether ``generated`` ends in one phrase said ``MIN_REPEATS`` times or more in a row,
    the repeats covering at least ``min_span`` tokens."""
    n = len(generated)
    if n < min_span:
        return False
    tail = list(generated[-min(n, MAX_PERIOD * MIN_REPEATS + min_span) :])
    for period in range(1, MAX_PERIOD + 1):
        span = max(min_span, period * MIN_REPEATS)
        if span > len(tail):
            break
        window = tail[-span:]
        if window[period:] == window[:-period]:
            return True
    return False


class LoopStop:
    """A llama.cpp stopping criterion for one generation (its ``input_ids`` are the prompt's
    and the output's); counted once when it stops one."""

    def __init__(self, model: str, prompt_tokens: int, min_span: int) -> None:
        self.model, self.prompt_tokens, self.min_span = model, prompt_tokens, min_span
        self.fired = False

    def __call__(self, input_ids: Any, logits: Any) -> bool:  # noqa: ARG002 - llama.cpp's criterion interface
        if not self.fired and repeating(input_ids[self.prompt_tokens :].tolist(), self.min_span):
            self.fired = True
            metrics.LLM_LOOPS_STOPPED.labels(self.model).inc()
            log.info(
                "stopped a generation repeating itself after %d tokens",
                len(input_ids) - self.prompt_tokens,
            )
        return self.fired
