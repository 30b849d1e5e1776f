"""Hybrid retrieval's second ranking: the pool of nearest chunks ranked by the question's words,
fused with the vector order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlalchemy.sql.dml import Delete

from assistant.retrieval.keywords import best_by_words, fuse, rerank, terms
from assistant.retrieval.store import Hit
from assistant.store import Database
from assistant.store.models import ChunkTerm

pytestmark = pytest.mark.unit


def _pool(*texts: str) -> list[Hit]:
    # nearest first, as the vector search hands them over
    return [
        Hit(id=f"c{n}", text=t, distance=0.2 + n / 100, metadata={}) for n, t in enumerate(texts)
    ]


INVOICES = [f"Invoice {4000 + n} from Kestrel Office Supplies, due in 30 days." for n in range(12)]


def test_a_chunk_holding_the_asked_identifier_comes_first() -> None:
    """The vectors put every invoice near "invoice 4009"; the one that says 4009 wins."""
    pool = _pool(*INVOICES)
    [first, *_] = rerank("Who issued invoice 4009?", pool, 4)
    assert first.text.startswith("Invoice 4009")
    assert [h.id for h in rerank("Who issued invoice 4009?", pool, 4)][1:] == ["c0", "c1", "c2"]


def test_the_chunks_holding_the_most_question_words_by_weight_are_the_best_by_words() -> None:
    pool = _pool(*INVOICES, "Invoice 4009 was paid late.", "Invoice 4009 again.")
    best = best_by_words("Who issued invoice 4009?", pool)
    # every chunk says "invoice" and none "issued": the three that say 4009 tie at the top
    assert {h.text for h in best} == {
        INVOICES[9],
        "Invoice 4009 was paid late.",
        "Invoice 4009 again.",
    }
    assert best_by_words("Tell me a joke", pool) == []


def test_rare_words_outweigh_common_ones() -> None:
    pool = _pool(
        "git commit records changes to the repository.",
        "git push sends commits to a remote repository.",
        "git log lists commits in the repository.",
        "The reflog records where the tips of branches were.",
    )
    # "reflog": in one chunk of four, "git" and "repository" in three: the farthest of the
    # four by its vector is second, before two that hold the common words
    assert [h.id for h in rerank("git reflog repository", pool, 2)] == ["c0", "c3"]


def test_without_a_shared_word_the_vector_order_stands() -> None:
    pool = _pool("alpha beta", "gamma delta", "epsilon zeta")
    assert [h.id for h in rerank("something else entirely", pool, 2)] == ["c0", "c1"]
    assert rerank("anything", [], 4) == []


def test_words_match_by_stem_and_case() -> None:
    assert terms("Charging the DESKS") == terms("charge desk")
    pool = _pool("The battery charges in 4.5 hours.", "Standing desks cost 640 euros each.")
    assert rerank("How much is a standing desk?", pool, 1)[0].id == "c1"


def test_fusion_puts_what_both_rankings_like_first_and_keeps_ties_in_order() -> None:
    assert fuse([["a", "b", "c"], ["c"]]) == ["c", "a", "b"]
    assert fuse([["a", "b"], ["b", "a"]]) == ["a", "b"]  # a tie: the first ranking's order


def test_the_keyword_index_keeps_each_tenants_chunks_and_replaces_a_documents(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    db.create_all()
    db.replace_chunk_terms("t1", "doc", {"doc:0": terms("The reflog records"), "doc:1": {"git"}})
    db.replace_chunk_terms("t2", "doc", {"doc:0": terms("reflog")})
    assert db.chunks_holding("t1", "reflog", 10) == ["doc:0"]
    assert db.chunks_holding("t2", "reflog", 10) == ["doc:0"]  # its own, not t1's
    assert db.chunks_holding("t1", "git", 10) == ["doc:1"]
    db.replace_chunk_terms("t1", "doc", {"doc:0": terms("something else")})  # re-ingested
    assert db.chunks_holding("t1", "reflog", 10) == [] and db.chunks_holding("t1", "git", 10) == []
    assert db.chunks_holding("t1", "someth", 10) == ["doc:0"]
    db.replace_chunk_terms("t1", "big", {f"big:{n}": {"common"} for n in range(5)})
    assert len(db.chunks_holding("t1", "common", 3)) == 3  # counted only up to the limit
    db.replace_chunk_terms("t1", "long", {"long:0": {"x" * 65, "fine"}})  # wider than the column
    assert db.chunks_holding("t1", "fine", 3) == ["long:0"]


def test_a_documents_index_rows_written_meanwhile_by_another_replica_are_not_an_error(
    tmp_path: Path,
) -> None:
    """Two replicas re-ingesting one document: the other one's rows land between this one's
    delete and insert (done here on the same connection, right after the delete)."""
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    db.create_all()
    row = {"tenant": "t", "term": "reflog", "chunk_id": "doc:0", "document_id": "doc"}

    def other_replica_inserts(conn: Any, statement: Any, *_: Any) -> None:
        if isinstance(statement, Delete) and statement.table is ChunkTerm.__table__:
            conn.execute(insert(ChunkTerm), [row])

    event.listen(db.engine, "after_execute", other_replica_inserts)
    db.replace_chunk_terms("t", "doc", {"doc:0": {"reflog", "record"}})
    event.remove(db.engine, "after_execute", other_replica_inserts)
    assert db.chunks_holding("t", "reflog", 10) == ["doc:0"]
    assert db.chunks_holding("t", "record", 10) == ["doc:0"]
