"""Every built-in encoder passes the shipped contract (``assistant.testing``), the same class a
third-party plugin runs in its own repository; they are discovered through the entry points."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.plugins import Encoder, MediaItem, Modality
from assistant.plugins.registry import build_registry
from assistant.testing import EncoderContract
from tests.support import media as mf

pytestmark = [pytest.mark.contract]


def test_builtin_plugins_are_discovered_through_entry_points() -> None:
    reg = build_registry(allow=["whisper", "vision", "video", "documents"])
    assert {"whisper", "vision", "video", "document-text"} <= set(reg.encoders)
    assert reg.encoder_for("audio/mpeg").name == "whisper"
    assert reg.encoder_for("image/webp").name == "vision"
    assert reg.encoder_for("video/quicktime").name == "video"
    assert reg.encoder_for("text/plain").name == "document-text"
    assert reg.encoders["whisper"].queue == "cpu.audio"
    plugins = reg.describe()["plugins"]
    assert isinstance(plugins, list)
    assert {p["name"] for p in plugins} >= {"whisper", "vision", "video", "documents"}


def media_items(modality: Modality, folder: Path) -> list[MediaItem]:
    """Two small, different, valid items of a modality."""
    if modality == Modality.AUDIO:
        a = mf.speech_wav(folder / "a.wav", "Good morning.")
        b = mf.speech_wav(folder / "b.wav", "See you tomorrow at noon.")
        return [MediaItem(a, "audio/wav"), MediaItem(b, "audio/wav")]
    if modality == Modality.IMAGE:
        a, b = folder / "a.png", folder / "b.jpg"
        mf.photo("coffee").save(a)
        mf.photo("chelsea").save(b)
        return [MediaItem(a, "image/png"), MediaItem(b, "image/jpeg")]
    a = mf.make_video(folder / "a.mp4", [(mf.photo("coffee"), 1.0)], fps=5)
    b = mf.make_video(
        folder / "b.mp4", [(mf.photo("chelsea"), 1.0), (mf.photo("rocket"), 1.0)], fps=5
    )
    return [MediaItem(a, "video/mp4"), MediaItem(b, "video/mp4")]


class MediaContract(EncoderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def valid_items(
        cls, encoder: Encoder[Any], tmp_path_factory: pytest.TempPathFactory
    ) -> list[MediaItem]:
        return media_items(encoder.modality, tmp_path_factory.mktemp(f"contract-{encoder.name}"))


@pytest.mark.models
class TestWhisperContract(MediaContract):
    @pytest.fixture(scope="class")
    @classmethod
    def encoder(cls) -> Encoder[Any]:
        from plugins.whisper import WhisperEncoder

        return WhisperEncoder(model="tiny.en", backend="faster-whisper", model_path="")


@pytest.mark.models
class TestVisionContract(MediaContract):
    @pytest.fixture(scope="class")
    @classmethod
    def encoder(cls) -> Encoder[Any]:
        from plugins.vision import VisionEncoder

        return VisionEncoder(clip_model="")


@pytest.mark.models
class TestVideoContract(MediaContract):
    @pytest.fixture(scope="class")
    @classmethod
    def encoder(cls) -> Encoder[Any]:
        from plugins.video import VideoEncoder

        return VideoEncoder()


class TestDocumentTextContract(EncoderContract):
    @pytest.fixture(scope="class")
    @classmethod
    def encoder(cls) -> Encoder[Any]:
        from plugins.documents import DocumentTextEncoder

        return DocumentTextEncoder()
