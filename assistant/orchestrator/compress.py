"""Less, better text in front of a small model: the sentences of the retrieved chunks nearest the
question.

A small model reads every prompt token before its first (time to first token) and is easily led
by nearby numbers. Each chunk is cut to its ``keep`` sentences that share the most question
words, weighted by how rare each word is among all the candidate sentences (so "London" counts
for more than the product name every sentence repeats); the kept sentences stay in document
order. Words are compared by their first five letters, a crude stem that matches "charge" to
"charging" and "assisting" to "assistance".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
# a line of its own: a Markdown heading, table row, list item or quote, or after a blank line;
# other line breaks are a document's wrapping inside one sentence
_OWN_LINE = re.compile(r"^\s*(#{1,6}\s|\||[-*+]\s|\d+[.)]\s|>)")
_WORD = re.compile(r"[^\W_]+(?:[.,]\d+)*", re.UNICODE)
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "from",
        "by",
        "with",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "its",
        "this",
        "that",
        "what",
        "which",
        "who",
        "whom",
        "how",
        "when",
        "where",
        "why",
        "does",
        "do",
        "did",
        "much",
        "many",
        "can",
        "could",
        "should",
        "would",
        "will",
        "there",
        "their",
        "they",
        "them",
        "as",
        "into",
        "than",
        "then",
        "so",
        "if",
        "about",
        "per",
    ]
)


def _terms(text: str) -> set[str]:
    words = (w.lower() for w in _WORD.findall(text))
    return {w[:5] for w in words if w not in _STOP}


def _unwrapped(text: str) -> list[str]:
    """The text's lines with wrapped prose joined back into one line per paragraph."""
    lines: list[str] = []
    joining = False
    for line in text.splitlines():
        if not line.strip():
            joining = False
        elif _OWN_LINE.match(line):
            lines.append(line.strip())
            joining = False
        elif joining:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line.strip())
            joining = True
    return lines


def sentences(text: str) -> list[str]:
    return [s.strip() for line in _unwrapped(text) for s in _SENTENCE.split(line) if s.strip()]


def nearest_sentences(question: str, chunks: Sequence[str], keep: int) -> list[str]:
    """Each chunk cut to its ``keep`` sentences nearest the question (whole when it has no more
    than that). A chunk that shares no word with the question while another does comes back
    empty: beside the sources that name what was asked it only misleads a small model (the
    invoice's total offered as the answer to a question about mileage). When none shares a
    word, every chunk comes back whole."""
    asked = _terms(question)
    split = [sentences(c) for c in chunks]
    terms = [[_terms(s) & asked for s in parts] for parts in split]  # the question's, per sentence
    pool = sum(len(per_chunk) for per_chunk in terms)
    seen_in = Counter(t for per_chunk in terms for found in per_chunk for t in found)
    if not seen_in:
        return list(chunks)
    weight = {t: math.log(1 + pool / n) for t, n in seen_in.items()}
    out = []
    for chunk, parts, found in zip(chunks, split, terms, strict=True):
        scores = [sum(weight[t] for t in shared) for shared in found]
        if not any(scores):
            out.append("")
        elif len(parts) <= keep:
            out.append(chunk)
        else:
            best = sorted(range(len(parts)), key=lambda i: (-scores[i], i))[:keep]
            out.append(" ".join(parts[i] for i in sorted(best)))
    return out
