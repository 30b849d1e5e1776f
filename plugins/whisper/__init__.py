"""Speech to text with timestamps (Whisper). Registration is cheap: no torch, no weights."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistant.plugins import Encoder, hookimpl
from plugins.whisper.encoder import WhisperEncoder, WhisperOptions

__all__ = ["WhisperEncoder", "WhisperOptions", "register_encoders"]


@hookimpl
def register_encoders(register: Callable[[Encoder[Any]], None]) -> None:
    register(WhisperEncoder())
