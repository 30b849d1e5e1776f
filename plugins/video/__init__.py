"""Video understanding: sampled frames (vision) and the audio track (Whisper) on one timeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistant.plugins import Encoder, hookimpl
from plugins.video.encoder import VideoEncoder, VideoOptions

__all__ = ["VideoEncoder", "VideoOptions", "register_encoders"]


@hookimpl
def register_encoders(register: Callable[[Encoder[Any]], None]) -> None:
    register(VideoEncoder())
