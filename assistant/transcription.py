"""Speech to text for clients (``POST /v1/audio/transcriptions`` and ``/translations``).

The upload goes through the same sniffing, limits and validation as every attachment, then to
the audio encoder (Whisper) through the dispatch, on the workers when there are workers. A video
container (a browser's ``audio/webm`` recording sniffs as one) is transcribed from its sound
track. The formats OpenAI serves are rendered here: json, text, srt, vtt and verbose_json.
"""

from __future__ import annotations

from typing import Any, Literal

from assistant.attachments import AttachmentResolver
from assistant.dispatch.protocol import EncodeDispatch
from assistant.errors import AssistantError, EncoderFailed, NotFound, UnsupportedMedia
from assistant.media import AUDIO_TYPES, VIDEO_TYPES
from assistant.plugins.contract import Encoding
from assistant.plugins.registry import Registry

Task = Literal["transcribe", "translate"]
# the video containers whose sound track an audio decoder reads as it is
_SOUND_TRACK = {
    "video/mp4": "audio/mp4",
    "video/quicktime": "audio/mp4",
    "video/webm": "audio/webm",
    "video/x-matroska": "audio/x-matroska",
}


class TranscriptionService:
    def __init__(
        self, attachments: AttachmentResolver, dispatch: EncodeDispatch, registry: Registry
    ) -> None:
        self.attachments = attachments
        self.dispatch = dispatch
        self.registry = registry

    @property
    def encoder_name(self) -> str | None:
        try:
            return self.registry.encoder_for("audio/wav").name
        except AssistantError:
            return None

    @property
    def model_ids(self) -> frozenset[str]:
        """``whisper-1`` (what clients send by default) and the encoder's own name."""
        name = self.encoder_name
        return frozenset({"whisper-1", name}) if name else frozenset()

    def check_model(self, model: str) -> None:
        if model not in self.model_ids:
            served = ", ".join(sorted(self.model_ids)) or "none: no audio encoder is enabled"
            raise NotFound(
                f"the transcription model {model!r} does not exist; served: {served}",
                param="model",
                code="model_not_found",
            )

    async def transcribe(
        self,
        tenant: str,
        data: bytes,
        declared: str | None,
        name: str,
        *,
        language: str | None = None,
        prompt: str | None = None,
        task: Task = "transcribe",
    ) -> Encoding:
        media_type = await self.attachments.sniff(data, declared, name)
        media_type = _SOUND_TRACK.get(media_type, media_type)
        if media_type not in AUDIO_TYPES:
            kind = (
                "a video without a known sound track" if media_type in VIDEO_TYPES else media_type
            )
            raise UnsupportedMedia(
                f"{name} is {kind}; a transcription needs audio ({', '.join(sorted(AUDIO_TYPES))})",
                param="file",
            )
        item = await self.attachments.stage(tenant, data, declared, name, sniffed=media_type)
        options: dict[str, Any] = {"task": task}
        if language:
            options["language"] = language
        if prompt:
            options["prompt"] = prompt
        [result] = await self.dispatch.encode(tenant, [item], options)
        if isinstance(result, AssistantError):
            raise result
        if isinstance(result, BaseException):
            raise EncoderFailed(f"the transcription failed: {result}") from result
        return result


# formats --------------------------------------------------------------------------------


def _clock(seconds: float, sep: str) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def _timed(encoding: Encoding) -> list[tuple[float, float, str, dict[str, Any]]]:
    """Each spoken segment: start, end, text and the decoder's metadata."""
    return [
        (
            s.start or 0.0,
            s.end if s.end is not None else s.start or 0.0,
            s.text.strip(),
            s.metadata,
        )
        for s in encoding.segments
        if s.text.strip()
    ]


def srt(encoding: Encoding) -> str:
    blocks = [
        f"{i}\n{_clock(start, ',')} --> {_clock(end, ',')}\n{text}\n"
        for i, (start, end, text, _) in enumerate(_timed(encoding), start=1)
    ]
    return "\n".join(blocks)


def vtt(encoding: Encoding) -> str:
    cues = [
        f"{_clock(start, '.')} --> {_clock(end, '.')}\n{text}\n"
        for start, end, text, _ in _timed(encoding)
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def verbose_json(encoding: Encoding, task: Task) -> dict[str, Any]:
    meta = encoding.metadata
    segments = [
        {
            "id": i,
            "seek": 0,
            "start": start,
            "end": end,
            "text": text,
            "tokens": [],
            "temperature": 0.0,
            "avg_logprob": decoded.get("avg_logprob", 0.0),
            "compression_ratio": 0.0,
            "no_speech_prob": decoded.get("no_speech_prob", 0.0),
        }
        for i, (start, end, text, decoded) in enumerate(_timed(encoding))
    ]
    return {
        "task": task,
        "language": meta.get("language") or "en",
        "duration": meta.get("duration_s", 0.0),
        "text": encoding.text,
        "segments": segments,
        "usage": {"type": "duration", "seconds": round(float(meta.get("duration_s", 0.0)))},
    }
