"""The encoder contract: what a plugin's encoder declares and returns.

Encoders are cheap to construct (no weights, no torch import); heavy work goes in ``load()``.
An encoder is generic in its options: ``class MyEncoder(Encoder[MyOptions])`` receives a
``MyOptions`` instance in ``encode`` (the registry's callers parse and validate them first).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field


class Modality(StrEnum):
    AUDIO = "audio"
    IMAGE = "image"
    VIDEO = "video"
    TEXT = "text"
    DOCUMENT = "document"


class Device(StrEnum):
    CPU = "cpu"
    CUDA = "cuda"


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


OptionsT = TypeVar("OptionsT", bound=BaseModel)


@dataclass(frozen=True)
class MediaSignature:
    """How the bytes of a media type of a plugin's own begin (``magic`` at ``offset``).

    The registry tries the plugins' signatures before the core's sniffer, so a plugin can bring
    a type the core has never heard of (``MediaSignature("text/x-hello", b"HELLO")``).
    """

    media_type: str
    magic: bytes
    offset: int = 0


@dataclass(frozen=True)
class MediaItem:
    """One input for an encoder: a local file (media travels by reference) and what it is."""

    path: Path
    media_type: str
    name: str = ""  # the name people know it by, for citations ("clip.mp4")
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        return self.name or self.path.name


class Segment(BaseModel):
    """A piece of findings, optionally on a timeline (seconds from the start)."""

    text: str
    kind: str = "text"  # e.g. "speech", "labels", "ocr", "frame"
    start: float | None = None
    end: float | None = None
    vector: list[float] | None = None
    metadata: dict[str, Any] = {}

    def overlaps(self, start_s: float, end_s: float | None) -> bool:
        """Whether it meets the span ``[start_s, end_s]`` (an open end, or no time, meets it)."""
        if self.end is not None and self.end < start_s:
            return False
        return end_s is None or self.start is None or self.start <= end_s


class RenderOptions(BaseModel):
    """What raw media a capable chat model takes, and within which bounds.

    An encoder that can render (``Encoder.renders``) accepts this as its ``render`` option and
    returns model-ready copies as ``Encoding.renditions``: an image resized to ``max_side`` and
    re-encoded, up to ``max_images`` scene-change keyframes of a video, and the sound as 16 kHz
    mono WAV of at most ``max_audio_s`` seconds. Decoding stays with the encoder (a worker)."""

    model_config = ConfigDict(extra="forbid")

    modalities: list[Literal["image", "audio"]] = Field(min_length=1)
    max_side: int = Field(1024, ge=64, le=4096)
    image_format: Literal["jpeg", "png"] = "jpeg"
    max_images: int = Field(8, ge=1, le=64)
    max_audio_s: float = Field(30.0, gt=0, le=600)


class Rendition(BaseModel):
    """A model-ready copy of (part of) an item: a resized image, a keyframe, a WAV clip.

    The encoder fills ``data``; a worker moves the bytes to the blob store (``blob``) before the
    result travels, so no message carries megabytes."""

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    media_type: str
    data: bytes | None = None
    blob: dict[str, Any] | None = None
    start: float | None = None
    end: float | None = None
    width: int | None = None
    height: int | None = None


class Encoding(BaseModel):
    """What an encoder found in one item."""

    encoder: str
    version: str
    modality: Modality
    text: str  # a human-readable summary of the findings, for the prompt
    segments: list[Segment] = []
    vector: list[float] | None = None  # one vector for the whole item, when meaningful
    metadata: dict[str, Any] = {}
    renditions: list[Rendition] = []  # only when asked for (``RenderOptions``)


class Encoder(ABC, Generic[OptionsT]):
    """Base class for encoder plugins. Subclasses declare capabilities as class attributes."""

    name: ClassVar[str]
    # raised whenever what encode() returns changes: cached encodings (this process's and the
    # ones shared through Redis) are keyed by it, so an upgrade does not serve the old ones
    version: ClassVar[str] = "0"
    modality: ClassVar[Modality]
    media_types: ClassVar[frozenset[str]]
    # byte signatures of media types the core does not know (see MediaSignature)
    media_signatures: ClassVar[tuple[MediaSignature, ...]] = ()
    # the devices the encoder can run on; the configuration picks one per instance
    # (plugins.device, plugins.devices) and the registry sets ``device``, so the queue follows
    devices: ClassVar[frozenset[Device]] = frozenset({Device.CPU})
    device: Device = Device.CPU
    # CPU threads the host gives this encoder's models (None: the libraries' own default, every
    # core); a worker sets it before load() so its pool processes do not oversubscribe the CPU
    threads: int | None = None
    Options: type[OptionsT] = NoOptions  # type: ignore[assignment]  # Encoder[NoOptions]
    default_batch_size: ClassVar[int] = 1
    # batch sizes per device (a GPU takes far larger batches); default_batch_size otherwise
    batch_sizes: ClassVar[dict[Device, int]] = {}
    # roughly what load() takes on a GPU: a worker loads only the encoders that fit its budget
    gpu_memory_mb: ClassVar[int] = 0
    # False for an encoder that can be routed to a cuda queue without a CUDA runtime (tests)
    needs_cuda_runtime: ClassVar[bool] = True
    # settles two encoders that accept the same media type: the higher serves it
    priority: ClassVar[int | None] = None
    # the raw media it can render for a capable chat model; its Options then take ``render``
    renders: ClassVar[frozenset[str]] = frozenset()

    @property
    def batch_size(self) -> int:
        """How many items one task hands this encoder, on its device."""
        return self.batch_sizes.get(self.device, self.default_batch_size)

    @property
    def queue(self) -> str:
        """The Celery queue that hosts this encoder: ``{device}.{modality}``."""
        return f"{self.device.value}.{self.modality.value}"

    def load(self) -> None:
        """Load weights. Called once per worker process before the first ``encode``."""

    @abstractmethod
    def encode(self, items: Sequence[MediaItem], options: OptionsT) -> list[Encoding]:
        """Encode a batch; return one Encoding per item, in order.

        Raise ``assistant.errors.UnprocessableMedia`` for an item that cannot be decoded.
        """

    def parse_options(self, raw: dict[str, Any] | None) -> OptionsT:
        return self.Options.model_validate(raw or {})

    def encoding(
        self,
        text: str,
        *,
        segments: Sequence[Segment] = (),
        vector: list[float] | None = None,
        metadata: dict[str, Any] | None = None,
        renditions: Sequence[Rendition] = (),
    ) -> Encoding:
        """The envelope of one result: this encoder's name, version and modality around it."""
        return Encoding(
            encoder=self.name,
            version=self.version,
            modality=self.modality,
            text=text,
            segments=list(segments),
            vector=vector,
            metadata=dict(metadata or {}),
            renditions=list(renditions),
        )
