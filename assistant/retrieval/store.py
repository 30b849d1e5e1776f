"""Per-tenant Chroma collections holding document chunks and media segments.

Vectors always come from the project's own embedder: Chroma's default embedding function
downloads weights and fails offline.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlparse

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from assistant.config import RetrievalSettings, StorageSettings
from assistant.embeddings import TextEmbedder, get_embedder
from assistant.errors import ServiceUnavailable
from assistant.retrieval.keywords import MAX_QUERY_TERMS, best_by_words, rerank, terms

_SAFE = re.compile(r"[^a-zA-Z0-9_-]")
# a Chroma server answering a read of a collection whose HNSW segment is still being written
# for the first time (chroma-core/chroma#4212): gone a moment later, so reads retry briefly
_SEGMENT_NOT_READY = ("hnsw segment reader", "nothing found on disk")
READ_ATTEMPTS = 4


@dataclass
class Chunk:
    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Hit:
    id: str
    text: str
    distance: float
    metadata: dict[str, Any]


def _hits(ids: Sequence[str], docs: Any, metas: Any, distances: Any) -> list[Hit]:
    """Chroma's parallel lists (documents and metadatas may be absent or hold None) as hits."""
    n = len(ids)
    return [
        Hit(id=i, text=d or "", distance=float(dist), metadata=dict(m or {}))
        for i, d, m, dist in zip(
            ids, docs or [None] * n, metas or [None] * n, distances, strict=True
        )
    ]


class _Embedding:
    """Chroma embedding-function adapter over the project's embedder (never Chroma's default)."""

    def __init__(self, embedder: TextEmbedder) -> None:
        self._embedder = embedder

    def __call__(self, input: Sequence[str]) -> list[Any]:
        import numpy as np

        return [np.asarray(v, dtype=np.float32) for v in self._embedder.embed(list(input))]

    def embed_query(self, input: Sequence[str]) -> list[Any]:
        return self(input)

    def embed_documents(self, input: Sequence[str]) -> list[Any]:
        return self(input)

    @staticmethod
    def name() -> str:
        return "assistant-minilm"

    def is_legacy(self) -> bool:
        return False

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> _Embedding:  # noqa: ARG004 - Chroma's embedding function interface
        return _Embedding(get_embedder())

    def default_space(self) -> str:
        return "cosine"

    def supported_spaces(self) -> list[str]:
        return ["cosine"]


def make_chroma_client(retrieval: RetrievalSettings, storage: StorageSettings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if retrieval.chroma_url:
        url = urlparse(retrieval.chroma_url)
        return chromadb.HttpClient(
            host=url.hostname or "127.0.0.1",
            port=url.port or (443 if url.scheme == "https" else 8000),
            ssl=url.scheme == "https",
            settings=chroma_settings,
        )
    path = storage.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class TermIndex(Protocol):
    """Where hybrid search finds the chunks that hold a word (the database's ``chunk_terms``)."""

    def chunks_holding(self, tenant: str, term: str, limit: int) -> list[str]: ...


class VectorStore:
    def __init__(
        self,
        client: Any,
        embedder: TextEmbedder,
        settings: RetrievalSettings,
        term_index: TermIndex | None = None,
    ) -> None:
        self.client = client
        self.embedder = embedder
        self.settings = settings
        self.term_index = term_index  # without it, hybrid search ranks the vector pool only
        self._collections: dict[str, Any] = {}
        self._lock = threading.Lock()

    def collection_name(self, tenant: str) -> str:
        return f"{self.settings.collection_prefix}-{_SAFE.sub('_', tenant)}"[:63]

    def collection(self, tenant: str) -> Any:
        name = self.collection_name(tenant)
        with self._lock:
            if name not in self._collections:
                try:
                    self._collections[name] = self.client.get_or_create_collection(
                        name=name,
                        embedding_function=_Embedding(self.embedder),
                        configuration={
                            "hnsw": {
                                "space": "cosine",
                                "ef_construction": self.settings.hnsw_construction_ef,
                                "ef_search": self.settings.hnsw_search_ef,
                                "max_neighbors": self.settings.hnsw_m,
                            }
                        },
                        metadata={"tenant": tenant},
                    )
                except Exception as exc:
                    raise ServiceUnavailable(f"the vector store is unavailable: {exc}") from exc
            return self._collections[name]

    def upsert(
        self, tenant: str, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]
    ) -> None:
        if not chunks:
            return
        self._call(
            tenant,
            lambda c: c.upsert(
                ids=[c_.id for c_ in chunks],
                documents=[c_.text for c_ in chunks],
                metadatas=[_clean_metadata(c_.metadata) for c_ in chunks],
                embeddings=[list(v) for v in vectors],
            ),
        )

    def delete_document(self, tenant: str, document_id: str) -> None:
        self._call(tenant, lambda c: c.delete(where={"document_id": document_id}))

    def count(self, tenant: str) -> int:
        return int(self._call(tenant, lambda c: c.count()))

    def _read(self, tenant: str, op: Callable[[Any], Any]) -> Any:
        """``_call`` for reads, retried while the server says the index is not on disk yet."""
        for attempt in Retrying(
            stop=stop_after_attempt(READ_ATTEMPTS),
            wait=wait_exponential(multiplier=0.05, max=0.5),
            retry=retry_if_exception(_segment_not_ready),
            reraise=True,
        ):
            with attempt:
                return self._call(tenant, op)
        raise AssertionError("unreachable")  # pragma: no cover - Retrying re-raises

    def _call(self, tenant: str, op: Callable[[Any], Any]) -> Any:
        """Run ``op`` on the tenant's collection; a failure is a 503 and forgets the handle
        (a restarted or recreated server may hand out a new collection id)."""
        collection = self.collection(tenant)
        try:
            return op(collection)
        except Exception as exc:
            if _is_client_error(exc):
                raise
            with self._lock:
                self._collections.pop(self.collection_name(tenant), None)
            raise ServiceUnavailable(f"the vector store is unavailable: {exc}") from exc

    def search(
        self,
        tenant: str,
        query: str,
        k: int,
        where: dict[str, Any] | None = None,
        max_distance: float | None = None,
    ) -> list[Hit]:
        """The ``k`` best chunks for the query: its ``keyword_pool`` nearest by vector ranked
        again by its words, the two rankings fused (``retrieval.hybrid``; see keywords.py).
        Chunks farther than ``max_distance`` are left out before the ``k`` are chosen, so one
        cannot take the place of a nearer chunk and then be dropped; but the chunks holding the
        most of the query's words are kept up to ``keyword_reach`` farther."""
        vector = self.embedder.embed([query])[0]

        def near(hits: list[Hit]) -> list[Hit]:
            return hits if max_distance is None else [h for h in hits if h.distance <= max_distance]

        if not self.settings.hybrid:
            return near(self.search_vector(tenant, vector, k, where))
        pool = self.search_vector(tenant, vector, max(k, self.settings.keyword_pool), where)
        candidates = pool + self._holding_rare_words(tenant, query, vector, pool, where)
        kept = near(candidates)
        if max_distance is not None and self.settings.keyword_reach:
            # the chunk holding most of the question's words may lie a little beyond the cut:
            # the tenancy's chunk saying "One parking space, number 17" is 0.77 from "Which
            # parking space comes with Flat 4B?", the rest of it being about the flat's rooms
            reach = max_distance + self.settings.keyword_reach
            beyond = [
                h for h in best_by_words(query, candidates) if max_distance < h.distance <= reach
            ]
            if beyond:
                kept = sorted(kept + beyond, key=lambda h: (h.distance, h.id))
        return rerank(query, kept, k)

    def _holding_rare_words(
        self,
        tenant: str,
        query: str,
        vector: Sequence[float],
        pool: list[Hit],
        where: dict[str, Any] | None,
    ) -> list[Hit]:
        """The chunks beyond the pool that hold one of the query's rarer words (in fewer than
        ``keyword_max_chunks`` chunks), nearest first: what the vectors ranked too low."""
        if self.term_index is None:
            return []
        cap = self.settings.keyword_max_chunks
        known = {h.id for h in pool}
        found: set[str] = set()
        for term in sorted(terms(query), key=lambda t: (-len(t), t))[:MAX_QUERY_TERMS]:
            ids = self.term_index.chunks_holding(tenant, term, cap)
            if len(ids) < cap:
                found.update(i for i in ids if i not in known)
        if not found:
            return []
        return self.nearest_of(tenant, vector, sorted(found), where)

    def nearest_of(
        self,
        tenant: str,
        vector: Sequence[float],
        ids: list[str],
        where: dict[str, Any] | None = None,
    ) -> list[Hit]:
        """These chunks (those ``where`` admits), nearest the vector first. Read by id and
        their cosine distances computed here: Chroma's query restricted to ids took 12-17 ms
        on 20,000 chunks for what a get takes under 1 ms (bench/bench_hybrid.py); the
        distances agree with its own to 1e-7."""
        import numpy as np

        result = self._read(
            tenant,
            lambda c: c.get(ids=ids, where=where, include=["documents", "metadatas", "embeddings"]),
        )
        if not result["ids"]:
            return []
        stored = np.asarray(result["embeddings"], dtype=np.float32)
        asked = np.asarray(vector, dtype=np.float32)
        norms = np.linalg.norm(stored, axis=1) * float(np.linalg.norm(asked))
        distances = 1.0 - (stored @ asked) / np.maximum(norms, 1e-12)
        hits = _hits(result["ids"], result.get("documents"), result.get("metadatas"), distances)
        return sorted(hits, key=lambda h: (h.distance, h.id))

    def search_vector(
        self,
        tenant: str,
        vector: Sequence[float],
        k: int,
        where: dict[str, Any] | None = None,
    ) -> list[Hit]:
        """The ``k`` chunks nearest the vector."""
        result = self._read(
            tenant,
            lambda c: c.query(
                query_embeddings=[list(vector)],
                n_results=k,
                where=where,
                include=["documents", "metadatas", "distances"],
            ),
        )

        def first(field: str) -> Any:  # a query answers one list per query vector
            return (result.get(field) or [None])[0]

        return _hits(result["ids"][0], first("documents"), first("metadatas"), first("distances"))

    def document_chunks(self, tenant: str, document_id: str) -> dict[str, str]:
        """A document's chunks: id -> text."""
        result = self._read(
            tenant, lambda c: c.get(where={"document_id": document_id}, include=["documents"])
        )
        return dict(zip(result["ids"], result.get("documents") or [], strict=False))

    def get(self, tenant: str, chunk_id: str) -> Hit | None:
        """One stored chunk by id, or None."""
        result = self._read(
            tenant, lambda c: c.get(ids=[chunk_id], include=["documents", "metadatas"])
        )
        if not result["ids"]:
            return None
        docs = result.get("documents") or [""]
        metas = result.get("metadatas") or [{}]
        return Hit(
            id=result["ids"][0], text=docs[0] or "", distance=0.0, metadata=dict(metas[0] or {})
        )

    def heartbeat(self) -> None:
        try:
            self.client.heartbeat()
        except Exception as exc:
            raise ServiceUnavailable(f"the vector store is unavailable: {exc}") from exc


def _segment_not_ready(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, ServiceUnavailable) and all(part in text for part in _SEGMENT_NOT_READY)


def _is_client_error(exc: Exception) -> bool:
    """Bad input (a malformed filter, wrong dimensions) is the caller's error, not an outage."""
    return isinstance(exc, ValueError | TypeError) and not isinstance(exc, ConnectionError)


def _clean_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Chroma accepts only str/int/float/bool values and no None."""
    clean: dict[str, Any] = {}
    for key, value in metadata.items():
        if value is None:
            continue
        clean[key] = value if isinstance(value, str | int | float | bool) else str(value)
    return clean
