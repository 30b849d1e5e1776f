"""What a file really is: ``sniff_media_type`` looks at the bytes (magic numbers), never at the
file name, and only at the declared MIME type to break ties the bytes cannot (text/markdown vs
text/plain). The plugin registry tries its plugins' own signatures first (``Registry.sniff``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.errors import UnprocessableMedia, UnsupportedMedia
from assistant.media.types import normalize_media_type

_SNIFF_BYTES = 8192
_AUDIO_FTYP_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
_IMAGE_FTYP_BRANDS = {b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis"}
_BMP_DIB_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}

Source = str | Path | bytes | bytearray | memoryview
# (has_video, has_audio) of a container, or None when it cannot be opened
StreamProbe = Callable[[Source], "tuple[bool, bool] | None"]


def read_head(source: Source) -> tuple[bytes, int]:
    """The first bytes a sniffer looks at, and the whole size."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        return data[:_SNIFF_BYTES], len(data)
    path = Path(source)
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    return head, path.stat().st_size


def probe_streams(source: Source) -> tuple[bool, bool] | None:
    """(has_video, has_audio) from container headers via PyAV, or None if it cannot be opened.

    This parses untrusted bytes: the API passes the decoder sandbox's probe instead."""
    try:
        import av
    except ImportError:  # pragma: no cover - av is a core dependency
        return None
    target: Any = (
        io.BytesIO(bytes(source))
        if isinstance(source, bytes | bytearray | memoryview)
        else str(source)
    )
    try:
        with av.open(target, mode="r") as container:
            # cover art in m4a files is an attached picture, not a video track
            has_video = any(
                s.type == "video" and not (s.disposition & av.stream.Disposition.attached_pic)
                for s in container.streams
            )
            has_audio = any(s.type == "audio" for s in container.streams)
            return has_video, has_audio
    except Exception:
        return None


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    sample = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut by the sample boundary is still text
        if exc.start < len(sample) - 4:
            try:  # legacy single-byte text (Windows-1252, Latin-1)
                text = sample.decode("cp1252")
            except UnicodeDecodeError:
                return False
        else:
            text = sample[: exc.start].decode("utf-8")
    if not text:
        return False
    bad = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    return bad <= len(text) * 0.01


def _text_subtype(head: bytes, declared: str | None) -> str:
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff \t\r\n").lower()
    if text.startswith(("<!doctype html", "<html")) or any(
        tag in text[:2048] for tag in ("<html", "<head>", "<body")
    ):
        return "text/html"
    if declared in {"text/markdown", "text/plain"}:
        return declared
    lines = text.splitlines()
    if any(line.startswith(("# ", "## ", "```", "- [", "* ")) for line in lines[:50]):
        return "text/markdown"
    return "text/plain"


def _ebml_doctype(head: bytes) -> str:
    return "webm" if b"webm" in head[:64] else "matroska"


def sniff_media_type(
    source: str | Path | bytes,
    declared: str | None = None,
    *,
    name: str | None = None,
    probe: StreamProbe = probe_streams,
) -> str:
    """The real media type of a file (path) or of bytes, from its content.

    ``declared`` (the client's MIME type) is used only where the bytes cannot decide (markdown
    vs plain text). Raises ``UnprocessableMedia`` for empty input and ``UnsupportedMedia`` when
    the content matches no known type. ``probe`` reads a container's streams where the magic
    bytes cannot tell audio from video (MP4, Matroska).
    """
    head, size = read_head(source)
    declared_n = normalize_media_type(declared)
    if name is None:
        name = Path(source).name if isinstance(source, str | Path) else "the upload"
    if size == 0:
        raise UnprocessableMedia(f"{name} is empty (0 bytes)")

    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head.startswith(b"BM") and len(head) >= 18:
        dib = int.from_bytes(head[14:18], "little")
        if dib in _BMP_DIB_SIZES:
            return "image/bmp"
    if head.startswith(b"%PDF-") or b"%PDF-" in head[:1024]:
        return "application/pdf"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"OggS"):
        if b"\x80theora" in head or b"OVP80" in head:
            return "video/ogg"
        return "audio/ogg"
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        layer = (head[1] >> 1) & 0x03
        if layer == 0 and (head[1] & 0xF6) == 0xF0:
            return "audio/aac"  # ADTS
        if layer != 0:
            return "audio/mpeg"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        compatible = {
            head[i : i + 4]
            for i in range(16, min(len(head), 8 + int.from_bytes(head[:4], "big")), 4)
        }
        if brand in _IMAGE_FTYP_BRANDS:
            return "image/heif"
        if brand in _AUDIO_FTYP_BRANDS:
            return "audio/mp4"
        if brand == b"qt  ":
            return "video/quicktime"
        streams = probe(source)
        if streams is not None and not streams[0] and streams[1]:
            return "audio/mp4"
        if streams is None and compatible & _AUDIO_FTYP_BRANDS:
            return "audio/mp4"
        return "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        doctype = _ebml_doctype(head)
        streams = probe(source)
        audio_only = streams is not None and not streams[0] and streams[1]
        if doctype == "webm":
            return "audio/webm" if audio_only else "video/webm"
        return "audio/x-matroska" if audio_only else "video/x-matroska"
    if _looks_like_text(head):
        return _text_subtype(head, declared_n)
    raise UnsupportedMedia(
        f"{name}: the content is not a supported media type"
        + (f" (declared {declared})" if declared else "")
        + "; supported: images (PNG, JPEG, WebP, GIF, BMP), audio (WAV, MP3, OGG/Opus, M4A, "
        "WebM, FLAC), video (MP4, MOV, WebM, MKV), PDF and plain text/Markdown/HTML"
    )
