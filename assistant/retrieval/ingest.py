"""Ingestion: files → text → chunks (stable ids) → vectors → Chroma, plus a documents row.

Re-ingesting a source replaces its chunks: ids derive from (tenant, source), and the old
chunks of the document are deleted before the new ones are written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from assistant.config import RetrievalSettings
from assistant.errors import AssistantError, UnprocessableMedia
from assistant.media.documents import (
    HEADINGS_SEPARATOR,
    Section,
    extract_sections,
    headings_after,
    sniff_text_type,
)
from assistant.retrieval.keywords import terms
from assistant.retrieval.store import Chunk, VectorStore
from assistant.store import Database, Document

TEXT_TYPES = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
}
MEDIA_SUFFIXES = {
    ".wav", ".mp3", ".ogg", ".opus", ".m4a", ".flac", ".webm",
    ".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp",
    ".mp4", ".mov", ".mkv",
}  # fmt: skip
INGEST_SUFFIXES = set(TEXT_TYPES) | MEDIA_SUFFIXES

__all__ = [
    "INGEST_SUFFIXES",
    "IngestResult",
    "Ingestor",
    "Section",
    "document_id",
    "extract_sections",
    "ingest_paths",
    "iter_files",
    "sniff_text_type",
]


def document_id(tenant: str, source: str) -> str:
    return "doc_" + hashlib.sha256(f"{tenant}\x00{source}".encode()).hexdigest()[:32]


@dataclass
class IngestResult:
    document_id: str
    source: str
    media_type: str
    chunks: int
    bytes: int


class Ingestor:
    def __init__(self, store: VectorStore, db: Database, settings: RetrievalSettings) -> None:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        self.store = store
        self.db = db
        self.settings = settings
        self.splitter = RecursiveCharacterTextSplitter(
            chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap
        )

    def chunk(
        self, doc_id: str, source: str, media_type: str, sections: Iterable[Section]
    ) -> list[Chunk]:
        chunks: list[Chunk] = []
        for section in sections:
            in_force: dict[int, str] = {}  # Markdown heading level -> the heading over the text
            for piece in self.splitter.split_text(section.text):
                if not piece.strip():
                    continue
                # the headings a chunk starts under: what its first sentences are about
                under = {"headings": HEADINGS_SEPARATOR.join(in_force.values())} if in_force else {}
                if media_type == "text/markdown":
                    in_force = headings_after(piece, in_force)
                index = len(chunks)
                chunks.append(
                    Chunk(
                        id=f"{doc_id}:{index}",
                        text=piece,
                        metadata={
                            "document_id": doc_id,
                            "source": source,
                            "media_type": media_type,
                            "modality": "text",
                            "chunk": index,
                            **under,
                            **section.metadata,
                        },
                    )
                )
        return chunks

    def ingest_bytes(
        self, tenant: str, source: str, data: bytes, media_type: str | None = None
    ) -> IngestResult:
        if not data:
            raise UnprocessableMedia(f"{source} is empty (0 bytes)")
        media_type = media_type or sniff_text_type(data, source)
        doc_id = document_id(tenant, source)
        chunks = self.chunk(doc_id, source, media_type, extract_sections(data, media_type, source))
        return self.write(tenant, doc_id, source, media_type, data, chunks)

    def write(
        self,
        tenant: str,
        doc_id: str,
        source: str,
        media_type: str,
        data: bytes,
        chunks: list[Chunk],
        given: list[list[float] | None] | None = None,
    ) -> IngestResult:
        """Replace the document's chunks. ``given`` may carry precomputed vectors (an image
        encoder's text-space embedding); the other chunks are embedded here, in batches."""
        given = given or [None] * len(chunks)
        missing = [i for i, v in enumerate(given) if v is None]
        embedded: list[list[float]] = []
        batch = 256
        for start in range(0, len(missing), batch):
            texts = [chunks[i].text for i in missing[start : start + batch]]
            embedded.extend(self.store.embedder.embed(texts))
        fill = dict(zip(missing, embedded, strict=True))
        vectors = [v if v is not None else fill[i] for i, v in enumerate(given)]
        self.store.delete_document(tenant, doc_id)
        for start in range(0, len(chunks), 1024):
            self.store.upsert(tenant, chunks[start : start + 1024], vectors[start : start + 1024])
        self.db.replace_chunk_terms(tenant, doc_id, {c.id: terms(c.text) for c in chunks})
        self.db.upsert_document(
            Document(
                id=doc_id,
                tenant=tenant,
                source=source,
                media_type=media_type,
                sha256=hashlib.sha256(data).hexdigest(),
                chunks=len(chunks),
                bytes=len(data),
            )
        )
        return IngestResult(doc_id, source, media_type, len(chunks), len(data))

    def reindex_terms(self, tenant: str | None = None) -> int:
        """Write the keyword index of hybrid search again from the chunks in the vector store
        (documents ingested before it existed); the number of documents indexed."""
        keys = self.db.document_keys(tenant)
        for owner, doc_id in keys:
            chunks = self.store.document_chunks(owner, doc_id)
            self.db.replace_chunk_terms(owner, doc_id, {i: terms(t) for i, t in chunks.items()})
        return len(keys)

    def delete(self, tenant: str, doc_id: str) -> None:
        self.db.get_document(tenant, doc_id)  # 404 for unknown and for other tenants' ids
        self.store.delete_document(tenant, doc_id)
        self.db.delete_document(tenant, doc_id)


def iter_files(paths: Iterable[Path], suffixes: Iterable[str] = INGEST_SUFFIXES) -> Iterator[Path]:
    wanted = {s.lower() for s in suffixes}
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in wanted
            )
        elif path.is_file():
            yield path
        else:
            raise FileNotFoundError(f"{path} does not exist")


def ingest_paths(
    ingest_one: Callable[[str, str, bytes], IngestResult],
    tenant: str,
    paths: Iterable[Path],
    progress: Callable[[Iterable[Path]], Iterable[Path]] = lambda x: x,
) -> tuple[list[IngestResult], list[tuple[Path, str]]]:
    """Ingest files and folders; one bad file is reported, it does not stop the rest.

    ``ingest_one(tenant, source, data)`` does one file (``Ingestor.ingest_bytes`` for text,
    the media ingestor for everything).
    """
    done: list[IngestResult] = []
    failed: list[tuple[Path, str]] = []
    for path in progress(list(iter_files(paths))):
        try:
            done.append(ingest_one(tenant, str(path.resolve()), path.read_bytes()))
        except (AssistantError, OSError) as exc:
            failed.append((path, exc.message if isinstance(exc, AssistantError) else str(exc)))
    return done, failed
