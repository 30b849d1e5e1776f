"""Documents attached to a chat message (PDF, text, Markdown, HTML): their text, in pages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant.media.documents import extract_sections
from assistant.plugins import Encoder, Encoding, MediaItem, Modality, Segment, hookimpl


class DocumentOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_chars: int = Field(20_000, ge=100, description="text beyond this is cut from the prompt")


class DocumentTextEncoder(Encoder[DocumentOptions]):
    name = "document-text"
    version = "1"
    modality = Modality.DOCUMENT
    media_types = frozenset({"application/pdf", "text/plain", "text/markdown", "text/html"})
    Options = DocumentOptions
    default_batch_size = 8

    def encode(self, items: Sequence[MediaItem], options: DocumentOptions) -> list[Encoding]:
        out = []
        for item in items:
            sections = extract_sections(item.path.read_bytes(), item.media_type, item.display_name)
            segments = []
            budget = options.max_chars
            for section in sections:
                text = section.text.strip()[: max(budget, 0)]
                if not text:
                    continue
                budget -= len(text)
                page = section.metadata.get("page")
                segments.append(
                    Segment(text=text, kind="text", metadata={"page": page} if page else {})
                )
            summary = "\n\n".join(s.text for s in segments)
            out.append(
                self.encoding(
                    summary,
                    segments=segments,
                    metadata={"pages": len(sections), "truncated": budget < 0},
                )
            )
        return out


@hookimpl
def register_encoders(register: Callable[[Encoder[Any]], None]) -> None:
    register(DocumentTextEncoder())
