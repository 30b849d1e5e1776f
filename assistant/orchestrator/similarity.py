"""How near in meaning words are, by the index's own embedder, for the context compression.

A question's word that no retrieved sentence holds ("cost" beside "The recommended retail
price is 2,390 euros.") is matched to the sentences' words nearest it. Words recur from one
question to the next (a corpus has a vocabulary), so each one's vector is kept (bounded). A
word costs about 1 ms to embed on 2 cores, and four 256-token chunks hold some 400 words: each
call embeds at most ``fresh`` words it has not seen (the rest count as not near this time and
are embedded by later calls), so the time before the first token stays bounded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from assistant.embeddings import TextEmbedder

CACHED_WORDS = 8192  # float32 vectors of 384 values: about 13 MB
FRESH_WORDS = 64  # words embedded per call at most: about 60 ms


class WordSimilarity:
    """Cosine between a word and each of several others (normalised sentence embeddings); 0.0
    for another word not embedded yet (over the call's ``fresh`` budget)."""

    def __init__(
        self, embedder: TextEmbedder, cached: int = CACHED_WORDS, fresh: int = FRESH_WORDS
    ) -> None:
        self._embedder = embedder
        self._cached = cached
        self._fresh = fresh
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, word: str, others: Sequence[str]) -> list[float]:
        vectors = self._of([word, *others])
        asked = vectors[word]
        return [float(asked @ vectors[w]) if w in vectors else 0.0 for w in others]

    def _of(self, words: Sequence[str]) -> dict[str, np.ndarray]:
        """The words' vectors: those kept, and up to ``fresh`` more (the first word always)."""
        with self._lock:
            known = {w: self._vectors[w] for w in words if w in self._vectors}
        missing = [w for w in dict.fromkeys(words) if w not in known][: max(1, self._fresh)]
        if missing:  # embedded outside the lock: other requests' words need not wait
            vectors = self._embedder.embed(missing)
            for word, vector in zip(missing, vectors, strict=True):
                known[word] = np.asarray(vector, dtype=np.float32)
        with self._lock:
            for word, kept in known.items():
                self._vectors[word] = kept
                self._vectors.move_to_end(word)
            while len(self._vectors) > self._cached:
                self._vectors.popitem(last=False)
        return known
