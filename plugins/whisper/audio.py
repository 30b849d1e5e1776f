"""Decode any audio (or the audio track of a video) to 16 kHz mono float32, in chunks.

PyAV brings its own ffmpeg libraries: no ffmpeg binary, no temporary files. Chunks keep
memory flat for hours-long recordings.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import PayloadTooLarge, UnprocessableMedia
from assistant.media import format_duration
from assistant.plugins.contract import RenderOptions, Rendition

if TYPE_CHECKING:
    import numpy as np

SAMPLE_RATE = 16_000


def iter_audio_chunks(
    path: str | Path,
    chunk_seconds: float = 30.0,
    *,
    max_seconds: float | None = None,
    name: str | None = None,
) -> Iterator[np.ndarray]:
    """Yield consecutive float32 mono 16 kHz arrays of ``chunk_seconds`` (the last may be shorter).

    Raises ``UnprocessableMedia`` if the file has no audio track or cannot be decoded, and
    ``PayloadTooLarge`` as soon as more than ``max_seconds`` have been decoded.
    """
    import av
    import numpy as np

    name = name or Path(path).name
    chunk = max(1, int(chunk_seconds * SAMPLE_RATE))
    limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
    try:
        container = av.open(str(path), mode="r")
    except Exception as exc:
        raise UnprocessableMedia(f"{name} could not be opened for audio decoding: {exc}") from exc
    with container:
        if not container.streams.audio:
            raise UnprocessableMedia(f"{name} has no audio track")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        parts: list[np.ndarray] = []
        buffered = 0
        total = 0

        def frames() -> Iterator[np.ndarray]:
            try:
                for frame in container.decode(stream):
                    for out in resampler.resample(frame):
                        yield out.to_ndarray().reshape(-1)
                for out in resampler.resample(None):
                    yield out.to_ndarray().reshape(-1)
            except av.error.FFmpegError as exc:
                raise UnprocessableMedia(f"{name}: audio is corrupt or truncated: {exc}") from exc

        for samples in frames():
            total += samples.shape[0]
            if limit is not None and total > limit:
                raise PayloadTooLarge(
                    f"{name} is longer than {format_duration(limit / SAMPLE_RATE)}, the limit"
                )
            parts.append(samples.astype(np.float32, copy=False))
            buffered += samples.shape[0]
            while buffered >= chunk:
                joined = np.concatenate(parts)
                yield joined[:chunk]
                rest = joined[chunk:]
                parts, buffered = ([rest] if rest.size else []), rest.shape[0]
        if buffered:
            yield np.concatenate(parts)
        elif total == 0:
            raise UnprocessableMedia(f"{name} holds no decodable audio")


def load_audio(path: str | Path, *, max_seconds: float | None = None) -> np.ndarray:
    """The whole audio as one array (short clips, tests and benches)."""
    import numpy as np

    chunks = list(iter_audio_chunks(path, 60.0, max_seconds=max_seconds))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


def render_audio(path: str | Path, options: RenderOptions, *, name: str | None = None) -> Rendition:
    """The first ``max_audio_s`` seconds as 16 kHz mono 16-bit WAV (what audio models take)."""
    import numpy as np

    wanted = int(options.max_audio_s * SAMPLE_RATE)
    parts: list[np.ndarray] = []
    kept = 0
    for chunk in iter_audio_chunks(path, 10.0, name=name):
        parts.append(chunk[: wanted - kept])
        kept += parts[-1].shape[0]
        if kept >= wanted:
            break  # the rest is never decoded
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return Rendition(
        media_type="audio/wav",
        data=buffer.getvalue(),
        start=0.0,
        end=round(kept / SAMPLE_RATE, 3),
    )
