"""Whether a file is safe and sane to decode: ``validate_media`` refuses empty, corrupt,
truncated, oversized and over-long media with errors a person understands, before any model
sees them. Image sizes are read from the header before anything is decoded (decompression
bombs); durations come from container metadata.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.config import MediaLimits, get_settings
from assistant.errors import PayloadTooLarge, UnprocessableMedia, UnsupportedMedia
from assistant.media.types import (
    KNOWN_TYPES,
    format_bytes,
    format_duration,
    media_kind,
    normalize_media_type,
)


@dataclass
class MediaInfo:
    """What validation learned about a file without decoding all of it."""

    media_type: str
    size_bytes: int
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    has_audio: bool = False
    has_video: bool = False


def image_header_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the first bytes of a PNG, GIF, BMP, WebP or JPEG, without decoding."""
    try:
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        if head.startswith((b"GIF87a", b"GIF89a")):
            return int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
        if head.startswith(b"BM"):
            if int.from_bytes(head[14:18], "little") == 12:
                return int.from_bytes(head[18:20], "little"), int.from_bytes(head[20:22], "little")
            width = int.from_bytes(head[18:22], "little", signed=True)
            height = int.from_bytes(head[22:26], "little", signed=True)
            return abs(width), abs(height)
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            chunk = head[12:16]
            if chunk == b"VP8X":
                return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(
                    head[27:30], "little"
                ) + 1
            if chunk == b"VP8L":
                bits = int.from_bytes(head[21:25], "little")
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            if chunk == b"VP8 ":
                return (
                    int.from_bytes(head[26:28], "little") & 0x3FFF,
                    int.from_bytes(head[28:30], "little") & 0x3FFF,
                )
        if head.startswith(b"\xff\xd8"):
            i = 2
            while i + 9 < len(head):
                if head[i] != 0xFF:
                    return None
                marker = head[i + 1]
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                    i += 2
                    continue
                length = int.from_bytes(head[i + 2 : i + 4], "big")
                if marker in {
                    0xC0,
                    0xC1,
                    0xC2,
                    0xC3,
                    0xC5,
                    0xC6,
                    0xC7,
                    0xC9,
                    0xCA,
                    0xCB,
                    0xCD,
                    0xCE,
                    0xCF,
                }:
                    return int.from_bytes(head[i + 7 : i + 9], "big"), int.from_bytes(
                        head[i + 5 : i + 7], "big"
                    )
                i += 2 + length
    except (IndexError, ValueError):
        return None
    return None


def _why(exc: BaseException, path: Path) -> str:
    """A decoder's complaint without our file-system layout in it."""
    return str(exc).replace(str(path), "the file").replace(path.name, "the file")


def _check_pixels(name: str, width: int, height: int, limits: MediaLimits) -> None:
    if width * height > limits.max_image_pixels:
        raise PayloadTooLarge(
            f"{name} is {width} x {height} pixels ({width * height / 1e6:.1f} megapixels); "
            f"the limit is {limits.max_image_pixels / 1e6:.1f} megapixels"
        )


def _image_info(
    path: Path, media_type: str, limits: MediaLimits, name: str, info: MediaInfo
) -> None:
    from PIL import Image

    kind = media_type.split("/")[1].upper()
    with path.open("rb") as fh:
        header = image_header_size(fh.read(1 << 16))
    if header is not None:  # from the header bytes: a bomb is refused before PIL sees it
        _check_pixels(name, *header, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Image.open reads only the header: the size is known before any pixel is decoded
            with Image.open(path) as img:
                width, height = img.size
                image_format = img.format
    except Image.DecompressionBombError as exc:
        raise PayloadTooLarge(f"{name} is a decompression bomb: {exc}") from exc
    except MemoryError:
        raise  # the decoder's memory limit: answered as such, not as a corrupt file
    except Exception as exc:
        raise UnprocessableMedia(
            f"{name} could not be read as a {kind} image: {_why(exc, path)}"
        ) from exc
    info.width, info.height = width, height
    _check_pixels(name, width, height, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if image_format == "PNG":
                # load() tolerates bad chunk checksums (a zeroed half decodes "fine");
                # verify() checks every chunk's CRC without decoding pixels
                with Image.open(path) as img:
                    img.verify()
            with Image.open(path) as img:
                img.load()  # bounded by the pixel check above; finds truncation and corruption
    except MemoryError:
        raise  # the decoder's memory limit: answered as such, not as a corrupt file
    except Exception as exc:
        raise UnprocessableMedia(
            f"{name} is corrupt or truncated ({kind} image): {_why(exc, path)}"
        ) from exc


def _av_info(path: Path, media_type: str, limits: MediaLimits, name: str, info: MediaInfo) -> None:
    import av

    kind = media_kind(media_type)
    try:
        container = av.open(str(path), mode="r")
    except MemoryError:
        raise  # the decoder's memory limit: answered as such, not as a corrupt file
    except Exception as exc:
        raise UnprocessableMedia(
            f"{name} could not be opened as {media_type}: {_why(exc, path)}"
        ) from exc
    with container:
        audio = next(iter(container.streams.audio), None)
        video = next(
            (
                s
                for s in container.streams.video
                if not (s.disposition & av.stream.Disposition.attached_pic)
            ),
            None,
        )
        info.has_audio, info.has_video = audio is not None, video is not None
        if kind == "audio" and audio is None:
            raise UnprocessableMedia(f"{name} has no audio track")
        if kind == "video" and video is None:
            raise UnprocessableMedia(f"{name} has no video track")
        duration: float | None = None
        if container.duration is not None and container.duration > 0:
            duration = container.duration / 1_000_000  # AV_TIME_BASE
        else:
            for stream in (video, audio):
                if stream is not None and stream.duration and stream.time_base:
                    duration = float(stream.duration * stream.time_base)
                    break
        info.duration_s = duration
        limit = limits.max_video_seconds if kind == "video" else limits.max_audio_seconds
        if duration is not None and duration > limit:
            raise PayloadTooLarge(
                f"{name} is {format_duration(duration)} long; the limit is {format_duration(limit)}"
            )
        if video is not None:
            info.width, info.height = video.codec_context.width, video.codec_context.height
            if info.width and info.height and info.width * info.height > limits.max_image_pixels:
                raise PayloadTooLarge(
                    f"{name}: frames are {info.width} x {info.height} pixels; the limit is "
                    f"{limits.max_image_pixels / 1e6:.1f} megapixels"
                )
        # decode the first frame of the main stream: proves the codec and the data are usable
        main = video if kind == "video" else audio
        try:
            got = False
            for _frame in container.decode(main):
                got = True
                break
        except MemoryError:
            raise  # the decoder's memory limit: answered as such, not as a corrupt file
        except Exception as exc:
            raise UnprocessableMedia(f"{name} is corrupt or truncated: {_why(exc, path)}") from exc
        if not got:
            raise UnprocessableMedia(f"{name} holds no decodable {kind} data")


def check_pdf(reader: Any, name: str, max_pages: int, max_objects: int) -> int:
    """Refuse PDF bombs before pypdf flattens the page tree; returns the page count.

    Counts the cross-reference entries (huge object counts) and walks the page tree itself,
    stopping as soon as it passes ``max_pages`` leaves (a /Kids array may name one page a
    million times, and /Count may lie), with a guard against cycles.
    """
    objects = sum(len(v) for v in reader.xref.values()) + len(reader.xref_objStm)
    if objects > max_objects:
        raise PayloadTooLarge(f"{name} holds {objects} PDF objects; the limit is {max_objects}")
    from pypdf.generic import IndirectObject

    root = reader.trailer["/Root"].get_object()
    stack: list[Any] = [root["/Pages"]]
    seen: set[tuple[int, int]] = set()
    pages = visits = 0
    while stack:
        ref = stack.pop()
        visits += 1
        if visits > 4 * max_pages + 1000:
            raise PayloadTooLarge(f"{name}: the PDF page tree is larger than the limit")
        node: Any = ref.get_object() if isinstance(ref, IndirectObject) else ref
        kids = node.get("/Kids") if hasattr(node, "get") else None
        if kids is not None and node.get("/Type") != "/Page":
            if isinstance(ref, IndirectObject):
                ident = (ref.idnum, ref.generation)
                if ident in seen:
                    raise UnprocessableMedia(f"{name} is not a readable PDF: its page tree loops")
                seen.add(ident)
            stack.extend(reversed(list(kids.get_object())))
            continue
        pages += 1
        if pages > max_pages:
            raise PayloadTooLarge(
                f"{name} has more than {max_pages} pages; the limit is {max_pages}"
            )
    return pages


def check_pdf_file(source: Path | bytes, name: str, limits: MediaLimits) -> int:
    """Open a PDF (a path or bytes) and run ``check_pdf``; every failure is a 413 or a 422."""
    try:
        from pypdf import PdfReader

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(source) if isinstance(source, bytes) else str(source))
            check_pdf(reader, name, limits.max_pdf_pages, limits.max_pdf_objects)
            pages = len(reader.pages)
            if pages == 0:
                raise ValueError("no pages")
            return pages
    except (PayloadTooLarge, UnprocessableMedia):
        raise
    except MemoryError:
        raise  # the decoder's memory limit: answered as such, not as a corrupt file
    except Exception as exc:
        why = _why(exc, source) if isinstance(source, Path) else str(exc)
        raise UnprocessableMedia(f"{name} is not a readable PDF: {why}") from exc


def _document_info(path: Path, media_type: str, name: str, limits: MediaLimits) -> None:
    if media_type == "application/pdf":
        check_pdf_file(path, name, limits)
        return
    with path.open("rb") as fh:
        data = fh.read(1 << 20)
    if b"\x00" in data:
        raise UnprocessableMedia(f"{name} is declared as text but holds binary data")


def validate_media(
    path: str | Path,
    media_type: str,
    limits: MediaLimits | None = None,
    *,
    name: str | None = None,
    plugin_types: Collection[str] = (),
) -> MediaInfo:
    """Check a file of a (sniffed) media type against the limits; return what was learned.

    ``plugin_types``: types a plugin brought (the registry's); only their size is checked
    here, their content by the encoder that accepts them (a 422 from it names the file).

    Raises ``UnprocessableMedia`` (422) for empty, corrupt or truncated files,
    ``UnsupportedMedia`` (415) for types the project does not handle, and
    ``PayloadTooLarge`` (413) for files, images or durations over the limits.
    """
    if limits is None:
        limits = get_settings().media
    path = Path(path)
    name = name or path.name
    media_type = normalize_media_type(media_type) or ""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnprocessableMedia(f"{name} cannot be read: {exc.strerror}") from exc
    if size == 0:
        raise UnprocessableMedia(f"{name} is empty (0 bytes)")
    if size > limits.max_file_bytes:
        raise PayloadTooLarge(
            f"{name} is {format_bytes(size)}; the limit is {format_bytes(limits.max_file_bytes)}"
        )
    info = MediaInfo(media_type=media_type, size_bytes=size)
    if media_type in plugin_types and media_type not in KNOWN_TYPES:
        return info
    if media_type not in KNOWN_TYPES:
        raise UnsupportedMedia(f"{name}: media type {media_type or 'unknown'!r} is not supported")
    kind = media_kind(media_type)
    if kind == "image":
        _image_info(path, media_type, limits, name, info)
    elif kind in {"audio", "video"}:
        _av_info(path, media_type, limits, name, info)
    else:
        _document_info(path, media_type, name, limits)
    return info
