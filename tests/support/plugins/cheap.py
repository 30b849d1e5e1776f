"""Test-only encoders for images, audio and video that do no model work.

Registered through ``workers.plugin_modules``, so chat attachments and media uploads run the
whole real path (sniffing, limits, validation by decoding, dispatch, prompt) in milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from assistant.media import AUDIO_TYPES, IMAGE_TYPES, VIDEO_TYPES
from assistant.plugins import Device, Encoder, Encoding, MediaItem, Modality, NoOptions, hookimpl


class _Cheap(Encoder[NoOptions]):
    version = "1"
    device = Device.CPU

    def encode(self, items: Sequence[MediaItem], options: NoOptions) -> list[Encoding]:  # noqa: ARG002 - the Encoder interface
        return [
            Encoding(
                encoder=self.name,
                version=self.version,
                modality=self.modality,
                text=f"{item.media_type}, {item.path.stat().st_size} bytes",
            )
            for item in items
        ]


class CheapImage(_Cheap):
    name = "cheap-image"
    modality = Modality.IMAGE
    media_types = IMAGE_TYPES


class CheapAudio(_Cheap):
    name = "cheap-audio"
    modality = Modality.AUDIO
    media_types = AUDIO_TYPES


class CheapVideo(_Cheap):
    name = "cheap-video"
    modality = Modality.VIDEO
    media_types = VIDEO_TYPES


@hookimpl
def register_encoders(register: Callable[[Encoder], None]) -> None:
    for cls in (CheapImage, CheapAudio, CheapVideo):
        register(cls())
