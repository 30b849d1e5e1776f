"""Each built-in plugin reads its own settings, under its own prefix (older names still work)."""

from __future__ import annotations

import pytest

from assistant.config import Settings
from plugins.vision.settings import VisionSettings
from plugins.whisper.settings import WhisperSettings

pytestmark = pytest.mark.unit


def test_whisper_settings_have_their_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_WHISPER_MODEL", "base")
    monkeypatch.setenv("ASSISTANT_WHISPER_BACKEND", "openai-whisper")
    own = WhisperSettings(_env_file=None)
    assert (own.model, own.backend) == ("base", "openai-whisper")
    assert "whisper_model" not in Settings(_env_file=None).plugins.model_dump()


def test_the_first_releases_names_are_still_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_PLUGINS__WHISPER_MODEL", "base")
    monkeypatch.setenv("ASSISTANT_PLUGINS__CLIP_MODEL", "/models/clip")
    assert WhisperSettings(_env_file=None).model == "base"
    assert VisionSettings(_env_file=None).clip_model == "/models/clip"


def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_WHISPER_MODEL", "large-v9")
    with pytest.raises(ValueError, match="ASSISTANT_WHISPER_MODEL"):
        WhisperSettings(_env_file=None)
