"""Citations in OpenAI's ``annotations`` shape (``url_citation``), which front ends render.

Open WebUI shows sources under an answer from these only; the project's own ``citations`` field
stays beside them. Each points at something this API serves: the document (with the page, or
the media time range, as a URL fragment), or the page itself for a source ingested from a URL.
Attachments of the request are the user's own upload and get no link.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from assistant.orchestrator import Citation


def source_url(citation: Citation, base_url: str) -> str | None:
    if citation.kind == "attachment" or not citation.document_id:
        return None
    if citation.source.startswith(("http://", "https://")) and citation.start is None:
        return citation.source
    url = f"{base_url.rstrip('/')}/v1/documents/{quote(citation.document_id, safe='')}"
    if citation.start is not None:
        end = f",{citation.end:g}" if citation.end is not None else ""
        return f"{url}#t={citation.start:g}{end}"
    if citation.page is not None:
        return f"{url}#page={citation.page}"
    return url


def title(citation: Citation) -> str:
    name = citation.source.rsplit("/", 1)[-1] or citation.source
    if citation.page is not None:
        name += f", page {citation.page}"
    if citation.start is not None:
        name += f" at {citation.start:g}s"
    return name


def url_citations(text: str, citations: list[Citation], base_url: str) -> list[dict[str, Any]]:
    """One ``url_citation`` per linkable source, spanning its first ``[n]`` in the text."""
    out = []
    for c in citations:
        url = source_url(c, base_url)
        if url is None:
            continue
        marker = f"[{c.index}]"
        start = text.find(marker)
        span = (start, start + len(marker)) if start >= 0 else (0, 0)
        out.append(
            {
                "type": "url_citation",
                "url_citation": {
                    "url": url,
                    "title": title(c),
                    "start_index": span[0],
                    "end_index": span[1],
                },
            }
        )
    return out
