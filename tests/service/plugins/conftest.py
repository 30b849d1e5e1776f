"""Session-wide encoders for the plugin tests, loaded once (media: tests/support/media_files.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def whisper_encoder():
    from plugins.whisper import WhisperEncoder

    enc = WhisperEncoder(model="tiny.en", backend="faster-whisper", model_path="")
    enc.load()
    return enc


@pytest.fixture(scope="session")
def vision_encoder():
    from plugins.vision import VisionEncoder

    enc = VisionEncoder(clip_model="")
    enc.load()
    return enc


@pytest.fixture(scope="session")
def video_encoder(vision_encoder, whisper_encoder):
    from plugins.video import VideoEncoder

    enc = VideoEncoder(vision=vision_encoder, whisper=whisper_encoder)
    enc.load()
    return enc
