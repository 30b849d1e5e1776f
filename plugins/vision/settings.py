"""The vision plugin's own settings: ``ASSISTANT_VISION_*`` (the core knows nothing of them).

The name of the first releases (``ASSISTANT_PLUGINS__CLIP_MODEL``) is still read.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class VisionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    clip_model: str = Field(
        "",
        validation_alias=AliasChoices(
            "ASSISTANT_VISION_CLIP_MODEL", "ASSISTANT_PLUGINS__CLIP_MODEL"
        ),
        description="a local path or hub id of a CLIP model (transformers) for image embeddings",
    )
