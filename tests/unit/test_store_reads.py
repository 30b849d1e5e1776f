"""Reads of a collection whose HNSW segment a Chroma server has not written yet are retried
briefly (chroma-core/chroma#4212); other failures are a 503 at once. The server is faked here:
only its error is needed, raised from the real ``chromadb.errors.InternalError``."""

from __future__ import annotations

from typing import Any

import pytest
from chromadb.errors import InternalError

from assistant.config import RetrievalSettings
from assistant.errors import ServiceUnavailable
from assistant.retrieval.store import READ_ATTEMPTS, VectorStore

pytestmark = pytest.mark.unit
NOT_ON_DISK = "Error executing plan: Internal error: Error creating hnsw segment reader: Nothing found on disk"
ANSWER = {"ids": [["a"]], "documents": [["text"]], "metadatas": [[{}]], "distances": [[0.1]]}


class Collection:
    def __init__(self, failures: list[Exception]) -> None:
        self.failures = failures
        self.queries = 0

    def query(self, **_: Any) -> dict[str, Any]:
        self.queries += 1
        if self.failures:
            raise self.failures.pop(0)
        return ANSWER


class Client:
    def __init__(self, collection: Collection) -> None:
        self.handle = collection

    def get_or_create_collection(self, **_: Any) -> Collection:
        return self.handle


def _store(collection: Collection) -> VectorStore:
    return VectorStore(Client(collection), embedder=None, settings=RetrievalSettings())  # type: ignore[arg-type]


def test_a_segment_not_yet_on_disk_is_read_again() -> None:
    collection = Collection([InternalError(NOT_ON_DISK), InternalError(NOT_ON_DISK)])
    hits = _store(collection).search_vector("t", [0.0] * 384, 1)
    assert [h.id for h in hits] == ["a"] and collection.queries == 3


def test_it_gives_up_with_a_503_after_a_few_tries() -> None:
    collection = Collection([InternalError(NOT_ON_DISK)] * (READ_ATTEMPTS + 1))
    with pytest.raises(ServiceUnavailable, match="Nothing found on disk"):
        _store(collection).search_vector("t", [0.0] * 384, 1)
    assert collection.queries == READ_ATTEMPTS


def test_another_failure_is_not_retried() -> None:
    collection = Collection([ConnectionError("refused")])
    with pytest.raises(ServiceUnavailable, match="refused"):
        _store(collection).search_vector("t", [0.0] * 384, 1)
    assert collection.queries == 1
