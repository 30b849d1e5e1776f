"""The Whisper plugin's own settings: ``ASSISTANT_WHISPER_*`` (the core knows nothing of them).

The names of the first releases (``ASSISTANT_PLUGINS__WHISPER_*``) are still read.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str) -> AliasChoices:
    return AliasChoices(f"ASSISTANT_WHISPER_{name}", f"ASSISTANT_PLUGINS__WHISPER_{name}")


class WhisperSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    model: Literal["tiny.en", "base"] = Field(
        "tiny.en", validation_alias=_env("MODEL"), description="tiny.en, or base (multilingual)"
    )
    backend: Literal["faster-whisper", "openai-whisper"] = Field(
        "faster-whisper", validation_alias=_env("BACKEND")
    )
    compute_type: Literal["auto", "int8", "int8_float16", "float16", "float32"] = Field(
        "auto",
        validation_alias=_env("COMPUTE_TYPE"),
        description="CTranslate2 compute type; auto: int8 on a CPU, float16 on a GPU",
    )
    model_path: str = Field(
        "",
        validation_alias=_env("MODEL_PATH"),
        description="a local CTranslate2 folder, or a .pt checkpoint for openai-whisper",
    )
