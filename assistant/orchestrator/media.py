"""Raw media for a model that reads it (``llm.input_modalities``).

The encoders make the model-ready copies (``RenderOptions`` → ``Encoding.renditions``) where
they decode the bytes, in a worker; here they are only taken from the blob store, as bytes,
and placed in the prompt as OpenAI content parts, each labelled with its attachment number and,
for a video's keyframes, the time. Nothing here decodes media, and no URL is left for the
model server to fetch.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from assistant.blobs import BlobRef, BlobStore
from assistant.config import LLMSettings
from assistant.plugins.contract import Encoding, RenderOptions, Rendition

log = logging.getLogger(__name__)


def render_options_for(llm: LLMSettings) -> RenderOptions | None:
    raw = llm.raw_modalities()
    if not raw:
        return None
    return RenderOptions(
        modalities=raw,
        max_side=llm.image_max_side,
        image_format=llm.image_format,
        max_images=llm.video_keyframes,
        max_audio_s=llm.audio_max_s,
    )


def take_renditions(
    blobs: BlobStore | None, encoding: Encoding
) -> tuple[Encoding, list[Rendition]]:
    """The encoding without its renditions, and the renditions with their bytes in hand.

    A worker left the bytes in the blob store for this one request: they are read and deleted
    here. One that is gone (a twin request took it) costs that image, not the answer."""
    taken: list[Rendition] = []
    for rendition in encoding.renditions:
        data = rendition.data
        if data is None and rendition.blob is not None and blobs is not None:
            ref = BlobRef.from_dict(rendition.blob)
            try:
                data = blobs.read_bytes(ref)
                blobs.delete(ref)
            except (OSError, ValueError) as exc:
                log.warning("a rendition of %s is not readable: %s", encoding.encoder, exc)
        if data is not None:
            taken.append(rendition.model_copy(update={"data": data, "blob": None}))
    return encoding.model_copy(update={"renditions": []}), taken


def timestamp(seconds: float | None) -> str:
    """``mm:ss`` (``h:mm:ss`` past an hour), as the prompt and citations show times."""
    if seconds is None:
        return ""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def content_parts(index: int, name: str, renditions: list[Rendition]) -> list[dict[str, Any]]:
    """OpenAI content parts for one attachment's renditions, each after a label naming it."""
    parts: list[dict[str, Any]] = []
    for rendition in renditions:
        if rendition.data is None:
            continue
        data = base64.b64encode(rendition.data).decode("ascii")
        if rendition.media_type.startswith("image/"):
            when = f", frame at {timestamp(rendition.start)}" if rendition.start is not None else ""
            parts.append({"type": "text", "text": f"Attachment [{index}] {name}{when}:"})
            url = f"data:{rendition.media_type};base64,{data}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
        elif rendition.media_type == "audio/wav":
            span = ""
            if rendition.end is not None:
                span = f", sound from 00:00 to {timestamp(rendition.end)}"
            parts.append({"type": "text", "text": f"Attachment [{index}] {name}{span}:"})
            parts.append({"type": "input_audio", "input_audio": {"data": data, "format": "wav"}})
    return parts
