"""Embeddings for clients (``POST /v1/embeddings``): the knowledge base's own text embedder.

Open WebUI's document RAG and LangChain's ``OpenAIEmbeddings`` embed their own chunks here; the
vectors are exactly the ones this project indexes with (normalised all-MiniLM-L6-v2), computed
where ingestion computes them (in process, or on the ``cpu.text`` workers). An input longer than
the model reads is refused rather than cut off silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.dispatch.protocol import Embedder
from assistant.embeddings import TextEmbedder
from assistant.errors import InvalidRequest, NotFound, PayloadTooLarge

MAX_INPUTS = 2048


@dataclass
class Embedded:
    vectors: list[list[float]]
    tokens: int


class EmbeddingService:
    def __init__(self, counter: TextEmbedder, embedder: Embedder) -> None:
        self.counter = counter  # this process's copy: counts tokens, knows the model's limits
        self.embedder = embedder
        self.name = counter.name

    @property
    def model_ids(self) -> frozenset[str]:
        """The names clients know the model by (Open WebUI's default includes the org)."""
        return frozenset({self.name, f"sentence-transformers/{self.name}"})

    def check_model(self, model: str) -> None:
        if model not in self.model_ids:
            raise NotFound(
                f"the embedding model {model!r} does not exist; this server embeds with "
                f"{self.name!r} (see GET /v1/models)",
                param="model",
                code="model_not_found",
            )

    async def embed(self, texts: Sequence[str], dimensions: int | None = None) -> Embedded:
        if not texts:
            raise InvalidRequest("input is empty", param="input")
        if len(texts) > MAX_INPUTS:
            raise PayloadTooLarge(
                f"{len(texts)} inputs is more than the limit of {MAX_INPUTS}", param="input"
            )
        for i, text in enumerate(texts):
            if not text:
                raise InvalidRequest(f"input[{i}] is an empty string", param="input")
        if dimensions is not None and dimensions != self.counter.dim:
            raise InvalidRequest(
                f"dimensions: {self.name} gives {self.counter.dim}-dimensional vectors and was "
                "not trained to be truncated",
                param="dimensions",
            )
        counts = await asyncio.to_thread(self.counter.count_tokens, texts)
        limit = self.counter.max_tokens
        for i, count in enumerate(counts):
            if count > limit:
                raise InvalidRequest(
                    f"input[{i}] is {count} tokens; {self.name} reads at most {limit}: split it",
                    param="input",
                    code="context_length_exceeded",
                )
        vectors = await self.embedder.embed(list(texts))
        return Embedded(vectors=vectors, tokens=sum(counts))
