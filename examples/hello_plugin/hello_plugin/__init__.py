"""A minimal third-party plugin: registers one cheap encoder through the entry-point group."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field

from assistant.errors import UnprocessableMedia
from assistant.plugins import Encoder, Encoding, MediaItem, Modality, Segment, hookimpl


class HelloOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    greeting: str = Field("hello", max_length=40)


class HelloEncoder(Encoder):
    name = "hello"
    version = "0.1.0"
    modality = Modality.TEXT
    media_types = frozenset({"text/plain"})
    Options = HelloOptions
    default_batch_size = 16

    def encode(self, items: Sequence[MediaItem], options: BaseModel) -> list[Encoding]:
        greeting = getattr(options, "greeting", "hello")
        out = []
        for item in items:
            try:
                data = item.path.read_bytes()
                text = data.decode("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise UnprocessableMedia(f"{item.display_name} is not UTF-8 text: {exc}") from exc
            if not data or "\x00" in text:
                raise UnprocessableMedia(f"{item.display_name} is empty or binary, not text")
            words = len(text.split())
            out.append(
                Encoding(
                    encoder=self.name,
                    version=self.version,
                    modality=self.modality,
                    text=f"{greeting}: {item.display_name} has {words} words",
                    segments=[Segment(text=text[:200], kind="text")],
                    metadata={"words": words},
                )
            )
        return out


@hookimpl
def register_encoders(register: Callable[[Encoder], None]) -> None:
    register(HelloEncoder())
