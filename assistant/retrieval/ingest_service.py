"""The one ingest path: whatever arrives (an upload, a job, the CLI, a bot) is sniffed once,
then documents are chunked and media encoded, embedded through the ``Embedder`` protocol
(in this process or on the ``cpu.text`` workers) and written here, in the API process.

Audio, images and video: encoder findings become searchable, timestamped chunks.

Speech segments are merged into windows (about 30 s / 600 characters) so a retrieved chunk has
enough context; each video frame finding and each image is a chunk of its own. Chunks carry
source, modality, kind and start/end seconds, so answers can cite "clip.mp4 at 01:12".
"""

from __future__ import annotations

import asyncio
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from assistant.attachments import AttachmentResolver
from assistant.blobs import BlobRef, blob_key
from assistant.dispatch.protocol import Embedder, EncodeDispatch
from assistant.errors import AssistantError, NotFound, UnprocessableMedia
from assistant.media import media_kind
from assistant.plugins.contract import Encoding, Segment
from assistant.retrieval.ingest import (
    Ingestor,
    IngestResult,
    document_id,
)
from assistant.retrieval.store import Chunk
from assistant.store import Document

SPEECH_WINDOW_S = 30.0
SPEECH_WINDOW_CHARS = 600


@dataclass
class _Piece:
    text: str
    kind: str
    start: float | None
    end: float | None
    vector: list[float] | None = None


def _merge_speech(segments: list[Segment]) -> list[_Piece]:
    pieces: list[_Piece] = []
    for seg in segments:
        text = seg.text.strip()
        if not text:
            continue
        last = pieces[-1] if pieces else None
        if (
            seg.kind == "speech"
            and last is not None
            and last.kind == "speech"
            and last.start is not None
            and (seg.end or 0) - last.start <= SPEECH_WINDOW_S
            and len(last.text) + len(text) < SPEECH_WINDOW_CHARS
        ):
            last.text += " " + text
            last.end = seg.end
            continue
        pieces.append(_Piece(text, seg.kind, seg.start, seg.end, seg.vector))
    return pieces


def encoding_pieces(encoding: Encoding) -> list[_Piece]:
    if encoding.modality.value == "image" or not encoding.segments:
        return [_Piece(encoding.text, "image", None, None, encoding.vector)]
    return _merge_speech(list(encoding.segments))


class IngestService:
    def __init__(
        self,
        ingestor: Ingestor,
        resolver: AttachmentResolver,
        dispatch: EncodeDispatch,
        embedder: Embedder,
    ) -> None:
        self.ingestor = ingestor
        self.resolver = resolver
        self.dispatch = dispatch
        self.embedder = embedder

    async def ingest(
        self,
        tenant: str,
        source: str,
        data: bytes,
        declared: str | None = None,
        *,
        sniffed: str | None = None,
    ) -> IngestResult:
        """Ingest one file; re-ingesting a source replaces its chunks (stable ids).

        ``sniffed``: the media type the caller already read from the bytes."""
        media_type = sniffed or await self.resolver.sniff(data, declared, source)
        if media_kind(media_type) == "document":
            return await self._document(tenant, source, data, media_type)
        return await self._media(tenant, source, data, media_type)

    async def original(self, tenant: str, doc_id: str) -> tuple[Document, Path]:
        """A media document's stored bytes, as a local file (404 for other tenants' ids).

        Media is kept by content hash where it was staged for the encoders; of a text document
        only its chunks are kept."""
        document = await asyncio.to_thread(self.resolver.db.get_document, tenant, doc_id)
        if media_kind(document.media_type) == "document":
            raise NotFound(
                f"document {doc_id} is a text document: its chunks are kept, not the file"
            )
        suffix = mimetypes.guess_extension(document.media_type) or ""
        ref = BlobRef(blob_key(tenant, document.sha256, suffix), document.sha256, document.bytes)
        try:
            path = await asyncio.to_thread(self.resolver.blobs.local_path, ref)
        except FileNotFoundError as exc:
            raise NotFound(f"the media of document {doc_id} is no longer stored") from exc
        return document, path

    async def _document(
        self, tenant: str, source: str, data: bytes, media_type: str
    ) -> IngestResult:
        if not data:
            raise UnprocessableMedia(f"{source} is empty (0 bytes)")
        doc_id = document_id(tenant, source)
        # parsed in the decoder sandbox (PDF bombs refused there first), bounded in time and memory
        sections = await asyncio.to_thread(
            self.resolver.decoders.sections, data, media_type, source, self.resolver.settings.media
        )
        chunks = await asyncio.to_thread(self.ingestor.chunk, doc_id, source, media_type, sections)
        vectors = await self.embedder.embed([c.text for c in chunks])
        given: list[list[float] | None] = list(vectors)
        return await asyncio.to_thread(
            lambda: self.ingestor.write(tenant, doc_id, source, media_type, data, chunks, given)
        )

    async def _media(self, tenant: str, source: str, data: bytes, media_type: str) -> IngestResult:
        item = await self.resolver.stage(tenant, data, media_type, source, sniffed=media_type)
        [result] = await self.dispatch.encode(tenant, [item])
        if isinstance(result, BaseException):
            if isinstance(result, AssistantError):
                raise result
            raise AssistantError(f"{source} could not be analysed: {result}") from result
        doc_id = document_id(tenant, source)
        modality = result.modality.value
        chunks: list[Chunk] = []
        vectors: list[list[float] | None] = []
        for index, piece in enumerate(encoding_pieces(result)):
            if not piece.text.strip():
                continue
            chunks.append(
                Chunk(
                    id=f"{doc_id}:{index}",
                    text=piece.text,
                    metadata={
                        "document_id": doc_id,
                        "source": source,
                        "media_type": media_type,
                        "modality": modality,
                        "kind": piece.kind,
                        "chunk": index,
                        "start": piece.start,
                        "end": piece.end,
                        "encoder": result.encoder,
                    },
                )
            )
            vectors.append(piece.vector)
        missing = [i for i, v in enumerate(vectors) if v is None]
        for i, vector in zip(
            missing, await self.embedder.embed([chunks[i].text for i in missing]), strict=True
        ):
            vectors[i] = vector
        return await asyncio.to_thread(
            lambda: self.ingestor.write(tenant, doc_id, source, media_type, data, chunks, vectors)
        )
