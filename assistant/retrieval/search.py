"""Searching the knowledge base directly (``POST /v1/search``, ``assistant search``).

A query is text, or one image, audio clip or video given as an OpenAI content part. Text is
embedded with the index's own embedder; an image goes through the same encoder the index used
and is searched with its text-space vector (labels and OCR weighting label embeddings); audio
is transcribed first and its words are searched. Media queries are staged and validated like
every attachment (sniffed, limited, decoded only by the encoders).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import AfterValidator, Field, field_validator, model_validator

from assistant.attachments import AttachmentResolver
from assistant.auth import Principal
from assistant.chat.request import AudioPart, FilePart, ImagePart, Strict, TextPart, check_unicode
from assistant.dispatch.protocol import EncodeDispatch
from assistant.errors import (
    AssistantError,
    EncoderFailed,
    InvalidRequest,
    NotFound,
    UnprocessableMedia,
)
from assistant.plugins.contract import Encoding
from assistant.retrieval.store import Hit, VectorStore

SNIPPET_CHARS = 500
MAX_FILTER_VALUES = 100
Modality = Literal["text", "image", "audio", "video"]
QueryPart = Annotated[TextPart | ImagePart | AudioPart | FilePart, Field(discriminator="type")]


class TimeRange(Strict):
    """Media segments that overlap [start, end] seconds (either end may be open)."""

    start: float | None = Field(None, ge=0)
    end: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError("time_range.start is after time_range.end")
        return self


class SearchRequest(Strict):
    query: Annotated[str, AfterValidator(check_unicode)] | list[QueryPart] = Field(
        description="text, or a list holding one image_url, input_audio or file part"
    )
    top_k: int = Field(10, ge=1, le=100)
    modalities: list[Modality] | None = Field(None, min_length=1)
    sources: list[str] | None = Field(None, min_length=1, max_length=MAX_FILTER_VALUES)
    document_ids: list[str] | None = Field(None, min_length=1, max_length=MAX_FILTER_VALUES)
    time_range: TimeRange | None = None

    @field_validator("query")
    @classmethod
    def _one_query(cls, query: str | list[Any]) -> str | list[Any]:
        if isinstance(query, str):
            if not query.strip():
                raise ValueError("query is empty")
            return query
        media = [p for p in query if not isinstance(p, TextPart)]
        text = [p for p in query if isinstance(p, TextPart) and p.text.strip()]
        if len(media) + len(text) != 1:
            raise ValueError("give text, or exactly one image_url, input_audio or file part")
        return query

    def text(self) -> str | None:
        if isinstance(self.query, str):
            return self.query
        texts = [p.text for p in self.query if isinstance(p, TextPart) and p.text.strip()]
        return texts[0] if texts else None

    def media_part(self) -> ImagePart | AudioPart | FilePart | None:
        if isinstance(self.query, str):
            return None
        return next((p for p in self.query if not isinstance(p, TextPart)), None)

    def where(self) -> dict[str, Any] | None:
        """The filters as one Chroma ``where`` clause."""
        clauses: list[dict[str, Any]] = []
        for key, values in (
            ("modality", self.modalities),
            ("source", self.sources),
            ("document_id", self.document_ids),
        ):
            if values:
                clauses.append({key: {"$in": list(dict.fromkeys(values))}})
        if self.time_range is not None:
            # overlap: the segment starts before the range ends and ends after it starts
            if self.time_range.end is not None:
                clauses.append({"start": {"$lte": self.time_range.end}})
            if self.time_range.start is not None:
                clauses.append({"end": {"$gte": self.time_range.start}})
            if self.time_range.start is None and self.time_range.end is None:
                clauses.append({"start": {"$gte": 0}})  # only what is on a timeline
        if not clauses:
            return None
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


@dataclass
class SearchHit:
    id: str
    score: float
    text: str
    metadata: dict[str, Any]

    @classmethod
    def of(cls, hit: Hit) -> SearchHit:
        return cls(hit.id, round(1.0 - hit.distance, 4), hit.text, hit.metadata)

    @property
    def document_id(self) -> str:
        return str(self.metadata.get("document_id", ""))

    @property
    def is_media(self) -> bool:
        return bool(self.metadata.get("modality", "text") != "text")

    def payload(self, base_url: str) -> dict[str, Any]:
        """The hit as the API answers it, with links a front end can show."""
        meta = self.metadata
        out: dict[str, Any] = {
            "object": "search.hit",
            "id": self.id,
            "score": self.score,
            "document_id": self.document_id,
            "source": meta.get("source", ""),
            "media_type": meta.get("media_type"),
            "modality": meta.get("modality", "text"),
            "kind": meta.get("kind", "text"),
            "chunk": meta.get("chunk"),
            "page": meta.get("page"),
            "start": meta.get("start"),
            "end": meta.get("end"),
            "snippet": self.text[:SNIPPET_CHARS],
        }
        document = f"{base_url.rstrip('/')}/v1/documents/{quote(self.document_id, safe='')}"
        out["document_url"] = document
        if self.is_media:
            content = f"{document}/content"
            if out["start"] is not None:  # a media fragment: players start at the segment
                end = f",{out['end']:g}" if out["end"] is not None else ""
                content += f"#t={out['start']:g}{end}"
            out["content_url"] = content
            out["segment_url"] = f"{document}/segments/{out['chunk']}"
            if out["modality"] == "image":
                out["thumbnail_url"] = f"{document}/content"
        return out


class SearchService:
    def __init__(
        self, store: VectorStore, resolver: AttachmentResolver, dispatch: EncodeDispatch
    ) -> None:
        self.store = store
        self.resolver = resolver
        self.dispatch = dispatch

    async def search(self, principal: Principal, request: SearchRequest) -> list[SearchHit]:
        tenant = principal.tenant
        where = request.where()
        part = request.media_part()
        if part is None:
            text = request.text() or ""
            hits = await asyncio.to_thread(self.store.search, tenant, text, request.top_k, where)
        else:
            [item] = await self.resolver(principal, [part])
            [result] = await self.dispatch.encode(tenant, [item])
            if isinstance(result, BaseException):
                if isinstance(result, AssistantError):
                    raise result
                raise EncoderFailed(f"the query could not be analysed: {result}") from result
            vector, text = _query_of(result)
            if vector is not None:
                hits = await asyncio.to_thread(
                    self.store.search_vector, tenant, vector, request.top_k, where
                )
            else:
                hits = await asyncio.to_thread(
                    self.store.search, tenant, text, request.top_k, where
                )
        return [SearchHit.of(h) for h in hits]

    def segment(self, tenant: str, document_id: str, chunk: int) -> SearchHit:
        """One indexed chunk or media segment of a tenant's document (404 otherwise)."""
        hit = self.store.get(tenant, f"{document_id}:{chunk}")
        if hit is None or hit.metadata.get("document_id") != document_id:
            raise NotFound(f"document {document_id} has no segment {chunk}")
        return SearchHit(hit.id, 1.0, hit.text, hit.metadata)


def _query_of(encoding: Encoding) -> tuple[list[float] | None, str]:
    """What to search with: the encoder's text-space vector, or the words it found."""
    if encoding.vector is not None and encoding.modality.value == "image":
        return encoding.vector, encoding.text
    if encoding.modality.value == "audio":
        words = " ".join(s.text.strip() for s in encoding.segments if s.kind == "speech").strip()
        if not words:
            raise UnprocessableMedia("no speech was found in the audio query")
        return None, words
    if not encoding.text.strip():
        raise InvalidRequest("nothing searchable was found in the query")
    return None, encoding.text
