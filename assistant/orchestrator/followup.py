"""A follow-up's retrieval query: "And how much does it weigh?" names nothing to search for.

When the last question leans on the conversation (a pronoun such as "it" or "they", or an
opening such as "And ..." or "What about ..."), the query also carries the previous question,
so retrieval finds the subject's document. A rewrite by the model would cost a generation before
the answer's; this costs nothing, and a question that stands alone is searched as it is.

A model that reads the sources without the conversation (the local one) reads the follow-up
with its "it" replaced by what the previous question named ("How long does it take to
charge?" after a question about the Harbor E-Bike 2 is "How long does the Harbor E-Bike 2 take
to charge?"); shown the previous question above the follow-up instead, the small model
answered that one again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.orchestrator.types import ChatTurn

_LEANS = re.compile(
    r"^\s*(and|also|what about|how about|then)\b"
    # not "that", "there" or "one": "Is there a warranty?" stands alone
    r"|\b(it|its|it's|they|them|their|this|these|those|he|she|his|her)\b",
    re.IGNORECASE,
)


def leans_on_conversation(question: str) -> bool:
    return bool(_LEANS.search(question))


def retrieval_query(turns: Sequence[ChatTurn]) -> str:
    """What to search for: the last user question, with the one before it for a follow-up."""
    asked = [t.content for t in turns if t.role == "user"]
    if not asked or not asked[-1].strip():
        return ""  # nothing asked in words (an attachment alone): nothing to search for
    earlier = next((q for q in reversed(asked[:-1]) if q.strip()), "")
    if earlier and leans_on_conversation(asked[-1]):
        return f"{earlier} {asked[-1]}"
    return asked[-1]


# what a question names: a run of capitalised words and numbers not opening a sentence ("the
# Harbor E-Bike 2"; not "I"), else a word and a number ("invoice 7731")
_NAMED = re.compile(r"(?<=[^.!?\s]\s)(?!I\b)[A-Z][\w'-]*(?:\s+(?:[A-Z][\w'-]*|\d[\w.-]*))*")
_NUMBERED = re.compile(r"\b[a-z]{3,}\s+\d[\w.-]*")
_IT = re.compile(r"\b(it|its)\b", re.IGNORECASE)
QUESTION_CHARS = 300  # a longer message (a pasted text) names too much to tell what "it" is


def standalone(question: str, earlier: str) -> str:
    """The question with a single "it" or "its" replaced by what ``earlier`` names (as it was
    when ``earlier`` names nothing, is no short question, or the question says "it" twice)."""
    if len(earlier) > QUESTION_CHARS:
        return question
    named = _NAMED.search(earlier) or _NUMBERED.search(earlier)
    pronouns = _IT.findall(question)
    if named is None or len(pronouns) != 1:
        return question
    subject = named.group()
    if re.search(r"\bthe$", earlier[: named.start()].rstrip(), re.IGNORECASE):
        subject = "the " + subject  # as it was asked about: "the Harbor E-Bike 2"
    return _IT.sub(lambda m: subject + ("'s" if m.group().lower() == "its" else ""), question)
