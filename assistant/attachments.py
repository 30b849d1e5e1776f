"""Turns OpenAI content parts (image_url, input_audio, file) into validated media on disk.

Used by every way media arrives: the chat API, chat jobs, ingest and analyse jobs, the bots.

The order of checks is the point: count and size limits, then the real type from the bytes,
then "is there an encoder for it" (415 naming what is supported), then per-modality limits
(pixels, duration) — all before any encoder work is queued. Whatever parses the bytes beyond
their magic numbers (a container's streams, the limits, a document's text) runs in the decoder
sandbox (``assistant.media.sandbox``), not in this process.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import mimetypes
import tempfile
from collections.abc import Sequence
from pathlib import Path

from assistant.auth import Principal
from assistant.blobs import BlobRef, BlobStore
from assistant.chat.request import AudioPart, FilePart, ImagePart
from assistant.config import Settings
from assistant.errors import InvalidRequest, PayloadTooLarge
from assistant.media.sandbox import DecoderPool
from assistant.net import fetch_url
from assistant.plugins.contract import MediaItem
from assistant.plugins.registry import Registry
from assistant.store import Database
from assistant.store import File as StoredFile

Part = ImagePart | AudioPart | FilePart


def decode_data_url(url: str, max_bytes: int, what: str) -> tuple[bytes, str | None]:
    header, sep, payload = url.partition(",")
    if not sep or not header.startswith("data:"):
        raise InvalidRequest(f"{what} is not a valid data URL")
    meta = header[5:].split(";")
    declared = meta[0] or None
    if "base64" not in meta[1:]:
        raise InvalidRequest(f"{what}: only base64 data URLs are accepted")
    return decode_base64(payload, max_bytes, what), declared


def decode_base64(payload: str, max_bytes: int, what: str) -> bytes:
    if len(payload) * 3 // 4 > max_bytes + 3:
        raise PayloadTooLarge(f"{what} is larger than the limit of {max_bytes} bytes")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequest(f"{what} is not valid base64") from exc
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"{what} is larger than the limit of {max_bytes} bytes")
    return data


class AttachmentResolver:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        blobs: BlobStore,
        registry: Registry,
        decoders: DecoderPool,
    ) -> None:
        self.settings = settings
        self.db = db
        self.blobs = blobs
        self.registry = registry
        self.decoders = decoders

    async def sniff(self, data: bytes, declared: str | None, name: str) -> str:
        """The real media type (``Registry.sniff``), containers probed in the sandbox."""
        sniff = functools.partial(
            self.registry.sniff, data, declared, name=name, probe=self.decoders.probe_streams
        )
        return await asyncio.to_thread(sniff)

    async def __call__(self, principal: Principal, parts: Sequence[Part]) -> list[MediaItem]:
        limit = self.settings.api.max_attachments
        if len(parts) > limit:
            raise PayloadTooLarge(f"{len(parts)} attachments is more than the limit of {limit}")
        items = []
        for index, part in enumerate(parts):
            items.append(await self.resolve(principal, part, index))
        return items

    async def _bytes(
        self, principal: Principal, part: Part, what: str
    ) -> tuple[bytes, str | None, str]:
        media = self.settings.media
        if isinstance(part, ImagePart):
            url = part.image_url.url
            if url.startswith("data:"):
                data, declared = decode_data_url(url, media.max_file_bytes, what)
                return data, declared, f"image-{what}"
            data, declared, final_url = await self.url_bytes(url)
            return data, declared, final_url.rsplit("/", 1)[-1].split("?", 1)[0] or "image"
        if isinstance(part, AudioPart):
            fmt = part.input_audio.format.lower().strip()
            data = decode_base64(part.input_audio.data, media.max_file_bytes, what)
            return data, mimetypes.types_map.get(f".{fmt}") or f"audio/{fmt}", f"audio.{fmt}"
        ref = part.file
        if ref.file_id:
            return await self.file_bytes(principal.tenant, ref.file_id)
        if ref.file_data:
            data, declared = decode_data_url(ref.file_data, media.max_file_bytes, what)
            return data, declared, ref.filename or "file"
        raise InvalidRequest(f"{what} needs a file_id or file_data")

    async def file_bytes(self, tenant: str, file_id: str) -> tuple[bytes, str | None, str]:
        """An uploaded file's bytes, declared type and name (404 for other tenants' ids)."""
        stored = await asyncio.to_thread(self.db.get_file, tenant, file_id)
        blob = BlobRef(key=stored.blob_key, sha256=stored.sha256, size=stored.bytes)
        data = await asyncio.to_thread(self.blobs.read_bytes, blob)
        return data, stored.media_type, stored.filename

    async def url_bytes(self, url: str) -> tuple[bytes, str | None, str]:
        """Fetch a user's URL within the limits, refusing private targets (assistant.net)."""
        media = self.settings.media
        fetched = await fetch_url(
            url,
            max_bytes=media.url_max_bytes,
            timeout=media.url_fetch_timeout_s,
            max_redirects=media.url_max_redirects,
            allow_private=media.url_allow_private,
        )
        return fetched.data, fetched.content_type, fetched.url

    async def resolve(self, principal: Principal, part: Part, index: int) -> MediaItem:
        what = f"attachment {index + 1}"
        data, declared, name = await self._bytes(principal, part, what)
        return await self.stage(principal.tenant, data, declared, name)

    async def store(
        self, tenant: str, data: bytes, media_type: str, name: str
    ) -> tuple[BlobRef, Path]:
        """Check sniffed bytes against the media limits, then store them by content hash.

        Validation (in a decoder process) reads a private temporary copy, so bytes that are
        refused (413/415/422) are never written to the blob store, where nothing would point at
        them."""
        suffix = mimetypes.guess_extension(media_type) or ""

        def check_then_put() -> BlobRef:
            with tempfile.NamedTemporaryFile(suffix=suffix, prefix="upload-") as staged:
                staged.write(data)
                staged.flush()
                self.decoders.validate(
                    Path(staged.name),
                    media_type,
                    self.settings.media,
                    name=name,
                    plugin_types=self.registry.plugin_media_types(),
                )
            return self.blobs.put_bytes(tenant, data, suffix)

        ref = await asyncio.to_thread(check_then_put)
        path = await asyncio.to_thread(self.blobs.local_path, ref)
        return ref, path

    async def stage(
        self,
        tenant: str,
        data: bytes,
        declared: str | None,
        name: str,
        *,
        sniffed: str | None = None,
    ) -> MediaItem:
        """Sniff (unless the caller already did: ``sniffed``), check for an encoder, store by
        content hash, validate limits."""
        media_type = sniffed or await self.sniff(data, declared, name)
        self.registry.encoder_for(media_type)  # 415 naming what is supported, before any work
        ref, path = await self.store(tenant, data, media_type, name)
        return MediaItem(
            path=path, media_type=media_type, name=name, metadata={"blob": ref.as_dict()}
        )

    # uploads (POST /v1/files) ----------------------------------------------------------------

    async def save_upload(
        self, tenant: str, data: bytes, declared: str | None, name: str, purpose: str
    ) -> StoredFile:
        """Sniff, store by content hash, validate, and record an uploaded file."""
        media_type = await self.sniff(data, declared, name)
        ref, _ = await self.store(tenant, data, media_type, name)
        row = StoredFile(
            tenant=tenant,
            filename=name,
            media_type=media_type,
            purpose=purpose,
            blob_key=ref.key,
            sha256=ref.sha256,
            bytes=ref.size,
        )
        return await asyncio.to_thread(self.db.add_file, row)

    async def delete_upload(self, tenant: str, file_id: str) -> None:
        """Forget an upload (404 for other tenants' ids); its blob goes with its last user."""

        def delete() -> BlobRef | None:
            stored = self.db.delete_file(tenant, file_id)
            # the blob is content-addressed: another upload of the bytes, or a media document
            # ingested from them, may still point at it
            if stored.blob_key in self.db.referenced_blob_keys(tenant):
                return None
            return BlobRef(key=stored.blob_key, sha256=stored.sha256, size=stored.bytes)

        ref = await asyncio.to_thread(delete)
        if ref is not None:
            await asyncio.to_thread(self.blobs.delete, ref)
