"""The keyword half of hybrid retrieval: the nearest chunks re-ranked by the question's words.

A sentence embedding (MiniLM) reads exact identifiers, names and numbers worst, and they are
what people search by ("invoice 7731", "error E1234", "git reflog"): the nearest vectors are
every invoice, every error code, every page about git. So the search takes a wide pool of the
nearest chunks (``retrieval.keyword_pool``) and the chunks beyond it that hold one of the
question's rarer words (the database's keyword index, ``chunk_terms``, written at ingest), and
ranks them all a second time by the question's words each chunk holds, weighted by how few of
them hold each (BM25's inverse document frequency, without its length normalisation);
reciprocal rank fusion then merges the two rankings (as Open WebUI's and Onyx's hybrid search
do): a chunk first in either is near the top, one high in both is first. Words are compared by
their Snowball stems ("desks" and "desk").

Chroma's own document filters (``$contains``, ``$regex``) are no keyword index: each scans the
collection (15-30 ms per word on 20,000 chunks here).
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Hashable, Sequence
from functools import lru_cache
from typing import Protocol, TypeVar

import snowballstemmer


class _Text(Protocol):
    """What re-ranking reads of a hit (``retrieval.store.Hit``): its text."""

    @property
    def text(self) -> str: ...


HitT = TypeVar("HitT", bound=_Text)
IdT = TypeVar("IdT", bound=Hashable)

# words that carry no subject of their own (in questions and in the compression's sentences)
STOP_WORDS = frozenset(
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
        # how a person asks, not what about: "Can you tell me the total, please?" had matched
        # the invoice's "please quote the invoice number" (not "you" or "your": a phrase
        # searched from documentation holds them, bench/bench_hybrid.py)
        "please",
        "tell",
        "give",
        "show",
        "hi",
        "hello",
        "thanks",
        "thank",
    ]
)
_WORD = re.compile(r"[^\W_]+(?:[.,]\d+)*", re.UNICODE)
# a Snowball stemmer keeps the word it works on in itself: one per thread (searches and prompts
# run on several at once), or two requests' words mix and wrong stems are cached for good
_STEMMERS = threading.local()
WORDS_RELATIVE_SCORE = 0.5
MAX_QUERY_TERMS = 8  # words of one question looked up in the keyword index
CACHED_CHUNK_TERMS = 4096  # chunks whose terms a search keeps (about 3 MB of 800-character chunks)
RRF_K = 60  # the constant of reciprocal rank fusion (Cormack et al., as Open WebUI uses)


@lru_cache(maxsize=16384)
def stem(word: str) -> str:
    stemmer = getattr(_STEMMERS, "english", None)
    if stemmer is None:
        stemmer = _STEMMERS.english = snowballstemmer.stemmer("english")
    return str(stemmer.stemWord(word))


def _subject_words(text: str) -> list[str]:
    # a lone letter ("E" of "E-Bike") says nothing on its own; a lone digit ("2") may
    return [
        w
        for w in _WORD.findall(text.lower())
        if w not in STOP_WORDS and (len(w) > 1 or w.isdigit())
    ]


def words(text: str) -> set[str]:
    """A text's distinct words that carry a subject, lower-cased."""
    return set(_subject_words(text))


def stems_in_order(text: str) -> list[str]:
    """The stems of a text's words that carry a subject, in the order it says them."""
    return [stem(w) for w in _subject_words(text)]


def terms(text: str) -> frozenset[str]:
    """The stems of a text's words that carry a subject."""
    # each distinct word is stemmed once (a search reads its whole pool of chunks this way)
    return frozenset(map(stem, words(text)))


@lru_cache(maxsize=CACHED_CHUNK_TERMS)
def _chunk_terms(text: str) -> frozenset[str]:
    # a search reads its candidates' words twice (the chunks kept beyond max_distance, then
    # the fusion), some 6 ms a time for 120 chunks, and the same chunks come back for
    # question after question
    return terms(text)


def _word_scores(question: str, pool: Sequence[_Text]) -> list[float]:
    """Each chunk's weight of the question's words it holds (a rarer word in the pool weighs
    more); all 0.0 when none holds one."""
    asked = terms(question)
    held = [_chunk_terms(hit.text) & asked for hit in pool]
    holding = Counter(t for words in held for t in words)
    n = len(pool)
    weight = {t: math.log(1.0 + (n - c + 0.5) / (c + 0.5)) for t, c in holding.items()}
    return [math.fsum(weight[t] for t in words) for words in held]


def rerank(question: str, pool: Sequence[HitT], k: int) -> list[HitT]:
    """The ``k`` best of the pool (nearest first) by the fusion of its vector order and its
    order by the question's words."""
    scores = _word_scores(question, pool)
    if not any(scores):
        return list(pool[:k])
    n = len(pool)
    # only chunks that hold what the best one holds, or half its weight: a word nearly every
    # chunk of the pool holds would otherwise rank them all in their vector order once more,
    # and the fusion would hand the nearest a second vote the words did not give it
    enough = WORDS_RELATIVE_SCORE * max(scores)
    # (every weight is above 0, so ``enough`` is too: a chunk holding none is never kept)
    by_words = sorted((i for i in range(n) if scores[i] >= enough), key=lambda i: (-scores[i], i))
    order = fuse([list(range(n)), by_words])
    return [pool[i] for i in order[:k]]


def best_by_words(question: str, pool: Sequence[HitT]) -> list[HitT]:
    """The chunks of the pool that hold the most of the question's words, by weight (none
    when no chunk holds one)."""
    scores = _word_scores(question, pool)
    top = max(scores, default=0.0)
    return [hit for hit, score in zip(pool, scores, strict=True) if top and score == top]


def fuse(rankings: Sequence[Sequence[IdT]], k: int = RRF_K) -> list[IdT]:
    """Reciprocal rank fusion: ids by the sum over rankings of 1 / (k + rank), best first
    (ties keep the first ranking's order)."""
    score: dict[IdT, float] = {}
    order: dict[IdT, int] = {}
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking, 1):
            score[chunk_id] = score.get(chunk_id, 0.0) + 1.0 / (k + rank)
            order.setdefault(chunk_id, len(order))
    return sorted(score, key=lambda i: (-score[i], order[i]))
