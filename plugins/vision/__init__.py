"""Image understanding: labels, OCR, a text-space embedding. Registration is cheap."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistant.plugins import Encoder, hookimpl
from plugins.vision.encoder import VisionEncoder, VisionOptions

__all__ = ["VisionEncoder", "VisionOptions", "register_encoders"]


@hookimpl
def register_encoders(register: Callable[[Encoder[Any]], None]) -> None:
    register(VisionEncoder())
