"""Plugin contract and registry. Third-party plugins import from here."""

from assistant.plugins.contract import (
    Device,
    Encoder,
    Encoding,
    MediaItem,
    MediaSignature,
    Modality,
    NoOptions,
    RenderOptions,
    Rendition,
    Segment,
)
from assistant.plugins.hookspecs import hookimpl

__all__ = [
    "Device",
    "Encoder",
    "Encoding",
    "MediaItem",
    "MediaSignature",
    "Modality",
    "NoOptions",
    "RenderOptions",
    "Rendition",
    "Segment",
    "hookimpl",
]
