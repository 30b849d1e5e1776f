"""Media the core understands: which types it knows (``types``), what a file really is
(``sniff``), and whether it is safe and sane to decode (``validate``)."""

from assistant.media.sniff import sniff_media_type
from assistant.media.types import (
    AUDIO_TYPES,
    DOCUMENT_TYPES,
    IMAGE_TYPES,
    KNOWN_TYPES,
    VIDEO_TYPES,
    format_bytes,
    format_duration,
    media_kind,
    normalize_media_type,
    require_kind,
)
from assistant.media.validate import (
    MediaInfo,
    check_pdf,
    check_pdf_file,
    image_header_size,
    validate_media,
)

__all__ = [
    "AUDIO_TYPES",
    "DOCUMENT_TYPES",
    "IMAGE_TYPES",
    "KNOWN_TYPES",
    "VIDEO_TYPES",
    "MediaInfo",
    "check_pdf",
    "check_pdf_file",
    "format_bytes",
    "format_duration",
    "image_header_size",
    "media_kind",
    "normalize_media_type",
    "require_kind",
    "sniff_media_type",
    "validate_media",
]
