"""How near in meaning words are, by the index's own embedder, for the context compression.

A question's word that no retrieved sentence holds ("cost" beside "The recommended retail
price is 2,390 euros.") is matched to the sentences' words nearest it. Words recur from one
question to the next (a corpus has a vocabulary), so each one's vector is kept (bounded).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from assistant.embeddings import TextEmbedder

CACHED_WORDS = 8192  # float32 vectors of 384 values: about 13 MB


class WordSimilarity:
    """Cosine between a word and each of several others (normalised sentence embeddings)."""

    def __init__(self, embedder: TextEmbedder, cached: int = CACHED_WORDS) -> None:
        self._embedder = embedder
        self._cached = cached
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, word: str, others: Sequence[str]) -> list[float]:
        vectors = self._of([word, *others])
        return [float(vectors[0] @ v) for v in vectors[1:]]

    def _of(self, words: Sequence[str]) -> list[np.ndarray]:
        with self._lock:
            known = {w: self._vectors[w] for w in words if w in self._vectors}
        missing = [w for w in dict.fromkeys(words) if w not in known]
        if missing:  # embedded outside the lock: other requests' words need not wait
            vectors = self._embedder.embed(missing)
            for word, vector in zip(missing, vectors, strict=True):
                known[word] = np.asarray(vector, dtype=np.float32)
        with self._lock:
            for word in dict.fromkeys(words):
                self._vectors[word] = known[word]
                self._vectors.move_to_end(word)
            while len(self._vectors) > self._cached:
                self._vectors.popitem(last=False)
        return [known[w] for w in words]
