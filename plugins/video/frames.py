"""Frame sampling with scene-change skipping, decoded in-process with PyAV.

Frames are looked at about ``fps`` times a second; one is kept only when its small grayscale
thumbnail differs enough from the last kept one (the first is always kept), up to a cap.
A talking head or a slide held for a minute costs one frame, not sixty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.errors import PayloadTooLarge, UnprocessableMedia
from assistant.media import format_duration

if TYPE_CHECKING:
    from PIL import Image as PILImage

THUMB = 32  # thumbnail side for the difference measure


@dataclass
class KeptFrame:
    time: float
    image: PILImage.Image
    difference: float  # mean absolute grayscale difference to the last kept frame (0..1)


@dataclass
class SamplingResult:
    frames: list[KeptFrame] = field(default_factory=list)
    considered: int = 0  # frames looked at (the uniform-sampling cost)
    duration_s: float = 0.0
    width: int = 0
    height: int = 0
    has_audio: bool = False


def _thumb(frame: Any) -> Any:
    import numpy as np

    small = frame.reformat(width=THUMB, height=THUMB, format="gray")
    return small.to_ndarray().astype(np.float32) / 255.0


def sample_frames(
    path: str | Path,
    *,
    fps: float = 1.0,
    threshold: float = 0.08,
    max_frames: int = 600,
    max_seconds: float | None = None,
    max_pixels: int | None = None,
    uniform: bool = False,
    name: str | None = None,
    start_s: float = 0.0,
    end_s: float | None = None,
) -> SamplingResult:
    """Sample frames at ``fps``; keep scene changes only (or every sample when ``uniform``).

    ``start_s``/``end_s``: only that span (a closer look); decoding stops past its end."""
    import av
    import numpy as np

    name = name or Path(path).name
    try:
        container = av.open(str(path), mode="r")
    except Exception as exc:
        raise UnprocessableMedia(f"{name} could not be opened as a video: {exc}") from exc
    result = SamplingResult()
    with container:
        if not container.streams.video:
            raise UnprocessableMedia(f"{name} has no video track")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        result.has_audio = bool(container.streams.audio)
        result.width, result.height = stream.codec_context.width, stream.codec_context.height
        if max_pixels and result.width * result.height > max_pixels:
            raise PayloadTooLarge(
                f"{name}: frames are {result.width} x {result.height} pixels, over the limit"
            )
        start = (
            float(stream.start_time * stream.time_base)
            if stream.start_time and stream.time_base
            else 0.0
        )
        step = 1.0 / fps
        next_t = start_s
        last: Any = None
        last_t = 0.0
        try:
            for frame in container.decode(stream):
                if frame.pts is None or frame.time is None:
                    continue
                t = max(0.0, float(frame.time) - start)
                last_t = t
                if max_seconds is not None and t > max_seconds:
                    raise PayloadTooLarge(
                        f"{name} is longer than {format_duration(max_seconds)}, the limit"
                    )
                if end_s is not None and t > end_s:
                    break
                if t + 1e-6 < next_t:
                    continue
                next_t += step * max(1, int((t - next_t) / step) + 1)
                result.considered += 1
                small = _thumb(frame)
                diff = 1.0 if last is None else float(np.abs(small - last).mean())
                if uniform or threshold <= 0 or last is None or diff > threshold:
                    image = frame.to_image()  # type: ignore[no-untyped-call]
                    result.frames.append(KeptFrame(round(t, 3), image, round(diff, 4)))
                    last = small
                    if len(result.frames) >= max_frames:
                        break
        except av.error.FFmpegError as exc:
            if not result.frames:
                raise UnprocessableMedia(f"{name}: video is corrupt or truncated: {exc}") from exc
        if container.duration:
            result.duration_s = container.duration / 1_000_000
        else:
            result.duration_s = last_t + step
    if not result.frames and (start_s or end_s is not None):
        raise UnprocessableMedia(f"{name} has no frames between {start_s:g} s and {end_s} s")
    if not result.frames:
        raise UnprocessableMedia(f"{name} holds no decodable video frames")
    return result
