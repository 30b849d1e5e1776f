"""Session-wide media and encoders for the plugin tests: made once, loaded once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for media_fixtures

import media_fixtures as mf


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def speech_wav(media_dir: Path) -> Path:
    return mf.speech_wav(media_dir / "speech.wav", mf.SENTENCE)


@pytest.fixture(scope="session")
def coffee_jpg(media_dir: Path) -> Path:
    path = media_dir / "coffee.jpg"
    mf.photo("coffee").save(path, quality=92)
    return path


@pytest.fixture(scope="session")
def cat_png(media_dir: Path) -> Path:
    path = media_dir / "cat.png"
    mf.photo("chelsea").save(path)
    return path


@pytest.fixture(scope="session")
def text_png(media_dir: Path) -> Path:
    path = media_dir / "sign.png"
    mf.text_image("OPEN SUNDAY 9AM").save(path)
    return path


@pytest.fixture(scope="session")
def scene_video(media_dir: Path, speech_wav: Path) -> Path:
    """0-3 s coffee, 3-9 s cat; speech from 3 s."""
    return mf.make_video(
        media_dir / "scenes.mp4",
        [(mf.photo("coffee"), 3.0), (mf.photo("chelsea"), 6.0)],
        audio=speech_wav,
        audio_start=3.0,
    )


@pytest.fixture(scope="session")
def whisper_encoder():  # type: ignore[no-untyped-def]
    from plugins.whisper import WhisperEncoder

    enc = WhisperEncoder(model="tiny.en", backend="faster-whisper", model_path="")
    enc.load()
    return enc


@pytest.fixture(scope="session")
def vision_encoder():  # type: ignore[no-untyped-def]
    from plugins.vision import VisionEncoder

    enc = VisionEncoder(clip_model="")
    enc.load()
    return enc


@pytest.fixture(scope="session")
def video_encoder(vision_encoder, whisper_encoder):  # type: ignore[no-untyped-def]
    from plugins.video import VideoEncoder

    enc = VideoEncoder(vision=vision_encoder, whisper=whisper_encoder)
    enc.load()
    return enc
