"""A Markdown document's chunks remember the headings they start under (what their first
sentences are about, read by the context compression)."""

from __future__ import annotations

from typing import cast

from assistant.config import RetrievalSettings
from assistant.media.documents import Section, headings_after
from assistant.retrieval.ingest import Ingestor
from assistant.retrieval.store import VectorStore
from assistant.store import Database

DOC = (
    "# Harbor E-Bike 2\n\nIntro sentence that fills the first chunk up.\n\n"
    "## Motor\n\nThe motor has 250 watts of rated power, enough for any hill.\n\n"
    "## Price\n\nThe recommended retail price is 2,390 euros, battery included.\n"
)


def test_the_headings_in_force_follow_levels() -> None:
    after = headings_after("# A\n## B\ntext\n### C\n## D\n", {})
    assert after == {1: "A", 2: "D"}
    assert headings_after("no headings here", {1: "A"}) == {1: "A"}


def _chunks(media_type: str) -> list[dict[str, object]]:
    # the ingestor's chunking reads neither the store nor the database
    ingestor = Ingestor(
        cast(VectorStore, None),
        cast(Database, None),
        RetrievalSettings(chunk_size=100, chunk_overlap=0),
    )
    chunks = ingestor.chunk("doc", "bike.md", media_type, [Section(DOC, {})])
    return [c.metadata for c in chunks]


def test_markdown_chunks_carry_the_headings_they_start_under() -> None:
    metas = _chunks("text/markdown")
    assert len(metas) >= 3
    assert "headings" not in metas[0]
    assert metas[-1]["headings"] in {"Harbor E-Bike 2 / Price", "Harbor E-Bike 2 / Motor"}
    assert all(str(m.get("headings", "Harbor")).startswith("Harbor") for m in metas)


def test_plain_text_has_no_headings() -> None:
    assert all("headings" not in m for m in _chunks("text/plain"))
