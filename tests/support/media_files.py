"""Session-wide sample media files, made once (a pytest plugin: tests/conftest.py loads it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import media as mf


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
