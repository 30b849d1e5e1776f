"""The text of documents (text, Markdown, HTML, PDF), in sections: pages of a PDF, the body of
an HTML page. Untrusted bytes: the API calls this through the decoder sandbox
(``assistant.media.sandbox``); workers, the CLI and tests call it directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import AssistantError, PayloadTooLarge, UnprocessableMedia, UnsupportedMedia
from assistant.media.validate import check_pdf

MAX_PDF_PAGES = 2000
MAX_PDF_OBJECTS = 500_000
MAX_PDF_TEXT_CHARS = 20_000_000


# a chunk's ``headings`` metadata: the Markdown headings it starts under, outermost first
HEADINGS_SEPARATOR = " / "
_HEADING_LINE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)


def headings_after(text: str, in_force: dict[int, str]) -> dict[int, str]:
    """The Markdown headings in force after ``text``, given those before it (level -> title)."""
    headings = dict(in_force)
    for match in _HEADING_LINE.finditer(text):
        level = len(match.group(1))
        headings = {n: h for n, h in headings.items() if n < level}
        headings[level] = match.group(2)
    return headings


@dataclass
class Section:
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


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
