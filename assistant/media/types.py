"""The media types the core knows, their kinds, and how to talk about sizes and durations.

Plugins may bring types of their own: the plugin registry owns the full list
(``Registry.supported_media_types``); these are the ones the core can sniff and check itself.
"""

from __future__ import annotations

from assistant.errors import UnsupportedMedia

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif", "image/bmp"})
AUDIO_TYPES = frozenset(
    {
        "audio/wav",
        "audio/mpeg",
        "audio/ogg",
        "audio/mp4",
        "audio/webm",
        "audio/x-matroska",
        "audio/flac",
        "audio/aac",
    }
)
VIDEO_TYPES = frozenset({"video/mp4", "video/webm", "video/quicktime", "video/x-matroska"})
DOCUMENT_TYPES = frozenset({"application/pdf", "text/plain", "text/markdown", "text/html"})
KNOWN_TYPES = IMAGE_TYPES | AUDIO_TYPES | VIDEO_TYPES | DOCUMENT_TYPES

# common aliases clients send as the declared type
_ALIASES = {
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/x-flac": "audio/flac",
    "audio/opus": "audio/ogg",
    "image/jpg": "image/jpeg",
    "image/x-ms-bmp": "image/bmp",
    "video/x-m4v": "video/mp4",
    "text/x-markdown": "text/markdown",
}


def normalize_media_type(media_type: str | None) -> str | None:
    """Lower-case, parameters dropped, common aliases mapped (``audio/x-wav`` -> ``audio/wav``)."""
    if not media_type:
        return None
    base = media_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base) or None


def media_kind(media_type: str) -> str:
    """``audio``, ``image``, ``video``, ``document`` or ``unknown`` for a (sniffed) media type."""
    if media_type in AUDIO_TYPES:
        return "audio"
    if media_type in IMAGE_TYPES:
        return "image"
    if media_type in VIDEO_TYPES:
        return "video"
    if media_type in DOCUMENT_TYPES:
        return "document"
    return "unknown"


def require_kind(
    media_type: str, kinds: str | set[str] | frozenset[str], name: str = "the file"
) -> None:
    """Raise UnsupportedMedia (415) when a route expecting e.g. audio receives something else."""
    wanted = {kinds} if isinstance(kinds, str) else set(kinds)
    kind = media_kind(media_type)
    if kind not in wanted:
        raise UnsupportedMedia(
            f"{name} is {media_type} ({kind}); this endpoint accepts {' or '.join(sorted(wanted))}"
        )


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}".replace(".0 ", " ")
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def format_duration(seconds: float) -> str:
    """``5.2 h``, ``12 min``, ``42 s``: durations as people say them."""
    if seconds >= 3600:
        value, unit = seconds / 3600, "h"
    elif seconds >= 60:
        value, unit = seconds / 60, "min"
    else:
        value, unit = seconds, "s"
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{text} {unit}"
