"""Ingestion: files → text → chunks (stable ids) → vectors → Chroma, plus a documents row.

Re-ingesting a source replaces its chunks: ids derive from (tenant, source), and the old
chunks of the document are deleted before the new ones are written.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.config import RetrievalSettings
from assistant.errors import AssistantError, PayloadTooLarge, UnprocessableMedia, UnsupportedMedia
from assistant.media import check_pdf
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
MAX_PDF_PAGES = 2000
MAX_PDF_OBJECTS = 500_000
MAX_PDF_TEXT_CHARS = 20_000_000


def document_id(tenant: str, source: str) -> str:
    return "doc_" + hashlib.sha256(f"{tenant}\x00{source}".encode()).hexdigest()[:32]


@dataclass
class Section:
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class IngestResult:
    document_id: str
    source: str
    media_type: str
    chunks: int
    bytes: int


def sniff_text_type(data: bytes, name: str) -> str:
    """Decide a document's type from its bytes; the name only separates Markdown from text."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    head = data[:2048].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<body" in head:
        return "text/html"
    if b"\x00" in data[:8192]:
        raise UnsupportedMedia(
            f"{name} is not a text, Markdown, HTML or PDF document "
            "(supported: text/plain, text/markdown, text/html, application/pdf)"
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnprocessableMedia(f"{name} is not valid UTF-8 text: {exc.reason}") from exc
    return "text/markdown" if Path(name).suffix.lower() in {".md", ".markdown"} else "text/plain"


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM); legacy single-byte files are read as Windows-1252."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def extract_sections(data: bytes, media_type: str, name: str) -> list[Section]:
    if media_type == "application/pdf":
        return _pdf_sections(data, name)
    text = decode_text(data)
    if media_type == "text/html":
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(text, "html.parser")
        for tag in soup(["script", "style", "noscript"]):
            tag.decompose()
        title = soup.title.get_text(strip=True) if soup.title else ""
        body = soup.get_text("\n", strip=True)
        return [Section(body, {"title": title} if title else {})]
    return [Section(text)]


def _pdf_sections(data: bytes, name: str) -> list[Section]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        check_pdf(reader, name, MAX_PDF_PAGES, MAX_PDF_OBJECTS)  # bombs refused before parsing
        sections, total = [], 0
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            total += len(text)
            if total > MAX_PDF_TEXT_CHARS:
                raise PayloadTooLarge(f"{name} holds more than {MAX_PDF_TEXT_CHARS} characters")
            sections.append(Section(text, {"page": number}))
        return sections
    except AssistantError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise UnprocessableMedia(f"{name} is not a readable PDF: {exc}") from exc
    except Exception as exc:  # hostile files make pypdf raise anything (RecursionError, ...)
        raise UnprocessableMedia(f"{name} is not a readable PDF: {type(exc).__name__}") from exc


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
            for piece in self.splitter.split_text(section.text):
                if not piece.strip():
                    continue
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
