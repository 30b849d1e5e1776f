"""A minimal third-party plugin: a media type of its own, its own settings, typed options.

It registers one cheap encoder through the ``assistant.plugins`` entry-point group. The encoder
serves ``text/x-hello``, a format the core has never heard of: files that begin with ``HELLO``.
The registry learns the type and its byte signature from the encoder, so uploads of it are
sniffed, accepted and routed here like any built-in type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from assistant.errors import UnprocessableMedia
from assistant.plugins import (
    Encoder,
    Encoding,
    MediaItem,
    MediaSignature,
    Modality,
    Segment,
    hookimpl,
)

HELLO_TYPE = "text/x-hello"
MAGIC = b"HELLO"


class HelloSettings(BaseSettings):
    """``ASSISTANT_HELLO_GREETING``: the plugin's own settings, under its own prefix."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_HELLO_", extra="ignore")
    greeting: str = Field("hello", max_length=40)


class HelloOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    greeting: str | None = Field(None, max_length=40, description="default: the settings' one")


class HelloEncoder(Encoder[HelloOptions]):
    name = "hello"
    version = "0.2.0"
    modality = Modality.TEXT
    media_types = frozenset({HELLO_TYPE})
    media_signatures = (MediaSignature(HELLO_TYPE, MAGIC),)
    Options = HelloOptions
    default_batch_size = 16

    def __init__(self, settings: HelloSettings | None = None) -> None:
        self.settings = settings

    def load(self) -> None:
        if self.settings is None:
            self.settings = HelloSettings()  # read once, when a worker loads the encoder

    def encode(self, items: Sequence[MediaItem], options: HelloOptions) -> list[Encoding]:
        settings = self.settings or HelloSettings()
        greeting = options.greeting or settings.greeting
        out = []
        for item in items:
            try:
                data = item.path.read_bytes()
                text = data.decode("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UnprocessableMedia(f"{item.display_name} is not UTF-8 text: {exc}") from exc
            if not data.startswith(MAGIC) or "\x00" in text:
                raise UnprocessableMedia(f"{item.display_name} is not a HELLO file")
            body = text[len(MAGIC) :].strip()
            words = len(body.split())
            out.append(
                self.encoding(
                    f"{greeting}: {item.display_name} has {words} words",
                    segments=[Segment(text=body[:200], kind="text")],
                    metadata={"words": words},
                )
            )
        return out


@hookimpl
def register_encoders(register: Callable[[Encoder[HelloOptions]], None]) -> None:
    register(HelloEncoder())
