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

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n+")
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


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def nearest_sentences(question: str, chunks: Sequence[str], keep: int) -> list[str]:
    """Each chunk cut to its ``keep`` sentences nearest the question (all of it when it has no
    more than that, or when no sentence shares a word with the question)."""
    asked = _terms(question)
    split = [sentences(c) for c in chunks]
    terms = [[_terms(s) & asked for s in parts] for parts in split]  # the question's, per sentence
    pool = sum(len(per_chunk) for per_chunk in terms)
    seen_in = Counter(t for per_chunk in terms for found in per_chunk for t in found)
    weight = {t: math.log(1 + pool / n) for t, n in seen_in.items()}
    out = []
    for chunk, parts, found in zip(chunks, split, terms, strict=True):
        scores = [sum(weight[t] for t in shared) for shared in found]
        if len(parts) <= keep or not any(scores):
            out.append(chunk)
            continue
        best = sorted(range(len(parts)), key=lambda i: (-scores[i], i))[:keep]
        out.append(" ".join(parts[i] for i in sorted(best)))
    return out
