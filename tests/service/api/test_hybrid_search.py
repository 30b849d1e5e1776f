"""Hybrid search through POST /v1/search, with the real embedder and Chroma: a chunk that holds
the identifier asked about is found first where the vectors alone rank its look-alikes ahead."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.support.apps import app_client, app_settings
from tests.support.settings import AUTH

pytestmark = [pytest.mark.models]

SUPPLIERS = ["Kestrel Office Supplies", "Harbor Paper Co", "Lumen Furniture", "Northwind Print"]


def _invoice(number: int) -> bytes:
    supplier = SUPPLIERS[number % len(SUPPLIERS)]
    return (
        f"# Supplier invoice\n\nThis invoice from {supplier} covers standing desks, monitor "
        f"arms, office chairs and printer paper delivered to the Leeds office in October. "
        f"Its reference number is {number}. Payment is due within 30 days of the invoice date, "
        f"by bank transfer, quoting the reference; late payments carry interest.\n"
    ).encode()


def _search(c: TestClient, query: str, top_k: int = 4) -> list[str]:
    response = c.post("/v1/search", headers=AUTH, json={"query": query, "top_k": top_k})
    assert response.status_code == 200, response.text
    return [str(hit["source"]) for hit in response.json()["data"]]


@contextmanager
def _invoices(root: Path, **retrieval: object) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """An app holding sixteen near-identical invoices; yields it and their document ids."""
    settings = app_settings(root, retrieval=retrieval, plugins={"allow": ["documents"]})
    with app_client(settings) as c:
        ids = {}
        for number in range(4001, 4017):
            name = f"supplier-{number - 4000:02d}.md"
            response = c.post(
                "/v1/documents", headers=AUTH, files={"file": (name, _invoice(number))}
            )
            assert response.status_code == 201, response.text
            ids[name] = response.json()["id"]
        yield c, ids


QUERY = "Which supplier sent the invoice with reference 4011?"


def test_the_chunk_holding_the_asked_number_comes_first(tmp_path: Path) -> None:
    with _invoices(tmp_path / "hybrid") as (c, _):
        assert _search(c, QUERY)[0] == "supplier-11.md"
    # the baseline this exists for: sixteen near-identical invoices, one number apart
    with _invoices(tmp_path / "vectors", hybrid=False) as (c, _):
        assert _search(c, QUERY)[0] != "supplier-11.md"


def test_the_keyword_index_finds_what_the_vector_pool_left_out_until_it_is_deleted(
    tmp_path: Path,
) -> None:
    """With a pool of one chunk (the nearest, another invoice: see above), only the keyword
    index written at ingest can bring the invoice that says 4011; deleting the document takes
    it out of the index too."""
    with _invoices(tmp_path, keyword_pool=1) as (c, ids):
        assert _search(c, QUERY, top_k=1) == ["supplier-11.md"]
        response = c.delete(f"/v1/documents/{ids['supplier-11.md']}", headers=AUTH)
        assert response.status_code in (200, 204), response.text
        assert "supplier-11.md" not in _search(c, QUERY)
        services = c.app.state.services  # type: ignore[attr-defined]
        assert services.db.chunks_holding("default", "4011", 10) == []


def test_documents_ingested_before_the_keyword_index_are_indexed_by_reindex(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An older knowledge base has no index rows: ``assistant reindex`` (reindex_terms) writes
    them from the chunks in Chroma."""
    with _invoices(tmp_path, keyword_pool=1) as (c, ids):
        services = c.app.state.services  # type: ignore[attr-defined]
        for document_id in ids.values():
            services.db.replace_chunk_terms("default", document_id, {})  # as before the index
        assert _search(c, QUERY, top_k=1) != ["supplier-11.md"]
        assert services.db.documents_without_terms() == len(ids)
        with caplog.at_level(logging.WARNING, logger="assistant.services"):
            restarted = app_settings(tmp_path, retrieval={"keyword_pool": 1})
            with app_client(restarted):  # an API started on that knowledge base says so
                pass
        assert f"{len(ids)} document(s) have no keyword index" in caplog.text
        assert "assistant reindex" in caplog.text
        assert services.ingestor.reindex_terms() == len(ids)
        assert services.db.documents_without_terms() == 0
        assert _search(c, QUERY, top_k=1) == ["supplier-11.md"]


def test_a_chunk_beyond_max_distance_does_not_take_a_nearer_chunks_place(tmp_path: Path) -> None:
    """The invoice that says 4011 wins the fused ranking, but with ``max_distance`` set between
    its distance and the nearest invoice's it is left out before the ``k`` are chosen: the
    nearer invoice comes back in its place (not nothing, as filtering after choosing gave).
    (No ``keyword_reach``: that would keep it, being the chunk that holds most of the question.)"""
    with _invoices(tmp_path, keyword_reach=0.0) as (c, ids):
        store = c.app.state.services.store  # type: ignore[attr-defined]
        vector = store.embedder.embed([QUERY])[0]
        by_vector = store.search_vector("default", vector, len(ids))
        nearest = by_vector[0]
        [asked] = [h for h in by_vector if h.metadata["document_id"] == ids["supplier-11.md"]]
        assert nearest.id != asked.id and nearest.distance < asked.distance
        assert [h.id for h in store.search("default", QUERY, 1)] == [asked.id]
        between = (nearest.distance + asked.distance) / 2
        hits = store.search("default", QUERY, 1, max_distance=between)
        assert [h.id for h in hits] == [nearest.id]


def test_the_chunk_holding_most_of_the_question_is_kept_a_little_beyond_max_distance(
    tmp_path: Path,
) -> None:
    """Up to ``keyword_reach`` beyond ``max_distance``, the invoice that says 4011 (the chunk
    holding the most of the question's words) is kept; its look-alikes there are not, and
    farther than the reach it is not either."""
    with _invoices(tmp_path, keyword_reach=0.05) as (c, ids):
        store = c.app.state.services.store  # type: ignore[attr-defined]
        vector = store.embedder.embed([QUERY])[0]
        by_vector = store.search_vector("default", vector, len(ids))
        [asked] = [h for h in by_vector if h.metadata["document_id"] == ids["supplier-11.md"]]
        cut = asked.distance - 0.03
        hits = store.search("default", QUERY, len(ids), max_distance=cut)
        assert asked.id in [h.id for h in hits]
        beyond = [h.id for h in by_vector if cut < h.distance and h.id != asked.id]
        assert beyond and not set(beyond) & {h.id for h in hits}
        farther = store.search("default", QUERY, len(ids), max_distance=asked.distance - 0.06)
        assert asked.id not in [h.id for h in farther]


def test_a_chunk_the_keyword_index_brings_still_passes_the_searchs_filters(tmp_path: Path) -> None:
    """The index finds the invoice that says 4011 beyond a pool of one; a search restricted to
    other documents does not get it (the filter applies to what the index brings too)."""
    with _invoices(tmp_path, keyword_pool=1) as (c, ids):
        others = [i for name, i in ids.items() if name != "supplier-11.md"][:3]
        body = {"query": QUERY, "top_k": 4, "document_ids": others}
        response = c.post("/v1/search", headers=AUTH, json=body)
        assert response.status_code == 200, response.text
        found = {hit["document_id"] for hit in response.json()["data"]}
        assert found and found <= set(others)
