"""The video encoder: vision on scene-change frames + Whisper on the audio track, one timeline."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assistant.config import get_settings
from assistant.media import VIDEO_TYPES, format_duration
from assistant.plugins.contract import (
    Device,
    Encoder,
    Encoding,
    MediaItem,
    Modality,
    RenderOptions,
    Rendition,
    Segment,
)
from plugins.video.frames import SamplingResult, sample_frames
from plugins.vision.encoder import VisionEncoder, VisionOptions
from plugins.vision.images import render_image
from plugins.whisper.audio import render_audio
from plugins.whisper.encoder import WhisperEncoder, WhisperOptions


class VideoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sample_fps: float = Field(1.0, gt=0.0, le=10.0)
    scene_threshold: float = Field(0.08, ge=0.0, le=1.0, description="0 keeps every sample")
    max_frames: int | None = Field(None, ge=1, description="default: media.max_video_frames")
    transcribe: bool = True
    ocr: bool = True
    language: str | None = None
    render: RenderOptions | None = None
    # a closer look at one span (seconds): frames and speech of that span only
    start_s: float = Field(0.0, ge=0.0)
    end_s: float | None = Field(None, ge=0.0)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class VideoEncoder(Encoder[VideoOptions]):
    name = "video"
    version = "2"  # 2: its frames read by vision version 2 (the OCR gate)
    modality = Modality.VIDEO
    media_types = VIDEO_TYPES
    devices = frozenset({Device.CPU, Device.CUDA})
    gpu_memory_mb = 2200  # its own vision and Whisper models on the same GPU
    Options = VideoOptions
    renders = frozenset({"image", "audio"})
    default_batch_size = 1

    def __init__(self, vision: Any = None, whisper: Any = None) -> None:
        self._vision = vision
        self._whisper = whisper
        self._lock = threading.Lock()
        self._limits: Any = None

    def load(self) -> None:
        with self._lock:
            self._limits = get_settings().media
            # frames decode on the CPU; vision and Whisper run on this encoder's device
            if self._vision is None:
                self._vision = VisionEncoder()
                self._vision.device = self.device
                self._vision.threads = self.threads
            if self._whisper is None:
                self._whisper = WhisperEncoder()
                self._whisper.device = self.device
                self._whisper.threads = self.threads
        self._vision.load()
        self._whisper.load()

    def encode(self, items: Sequence[MediaItem], options: VideoOptions) -> list[Encoding]:
        self.load()
        return [self._encode_one(item, options) for item in items]

    def _encode_one(self, item: MediaItem, opts: VideoOptions) -> Encoding:
        limits = self._limits
        name = item.display_name
        sampled = sample_frames(
            item.path,
            fps=opts.sample_fps,
            threshold=opts.scene_threshold,
            max_frames=opts.max_frames or limits.max_video_frames,
            max_seconds=limits.max_video_seconds,
            max_pixels=limits.max_image_pixels,
            name=name,
            start_s=opts.start_s,
            end_s=opts.end_s,
        )
        vision_opts = VisionOptions(ocr=opts.ocr, embed=True)
        frame_encodings: list[Encoding] = []
        batch = max(1, self._vision.batch_size)  # frames go to the model in device-sized batches
        for i in range(0, len(sampled.frames), batch):
            images = [f.image for f in sampled.frames[i : i + batch]]
            frame_encodings.extend(self._vision.encode_images(images, vision_opts))
        segments: list[Segment] = []
        for n, (frame, enc) in enumerate(zip(sampled.frames, frame_encodings, strict=True)):
            end = sampled.frames[n + 1].time if n + 1 < len(sampled.frames) else sampled.duration_s
            labels = enc.metadata["labels"]
            text = "Scene: " + ", ".join(x["label"] for x in labels[:3])
            if enc.metadata["ocr_text"]:
                text += f'. On screen: "{enc.metadata["ocr_text"]}"'
            segments.append(
                Segment(
                    text=text,
                    kind="frame",
                    start=frame.time,
                    end=round(max(end, frame.time), 3),
                    vector=enc.vector,
                    metadata={
                        "labels": labels,
                        "ocr_text": enc.metadata["ocr_text"],
                        "difference": frame.difference,
                    },
                )
            )
        speech: Encoding | None = None
        if opts.transcribe and sampled.has_audio:
            speech = self._whisper.encode_path(
                item.path,
                WhisperOptions(language=opts.language),
                name=name,
                max_seconds=limits.max_video_seconds,
            )
            segments.extend(s for s in speech.segments if s.overlaps(opts.start_s, opts.end_s))
        segments.sort(key=lambda s: (s.start or 0.0, 0 if s.kind == "frame" else 1))
        lines = [
            f"[{_clock(s.start or 0.0)}] {'Said' if s.kind == 'speech' else 'Seen'}: {s.text}"
            for s in segments
        ]
        summary = (
            f"Video {sampled.width}x{sampled.height}, {format_duration(sampled.duration_s)}.\n"
            + "\n".join(lines)
        )
        return self.encoding(
            summary,
            segments=segments,
            renditions=_renditions(item, sampled, opts.render),
            metadata={
                "duration_s": round(sampled.duration_s, 3),
                "width": sampled.width,
                "height": sampled.height,
                "frames_considered": sampled.considered,
                "frames_kept": len(sampled.frames),
                "transcript": speech.text if speech else "",
                "language": speech.metadata.get("language") if speech else None,
            },
        )


def _renditions(
    item: MediaItem, sampled: SamplingResult, render: RenderOptions | None
) -> list[Rendition]:
    """Scene-change keyframes spread over the video (each with its time), and its sound."""
    if render is None:
        return []
    out = []
    if "image" in render.modalities:
        frames = sampled.frames
        count = min(render.max_images, len(frames))
        picked = sorted({round(i * (len(frames) - 1) / max(count - 1, 1)) for i in range(count)})
        for n in picked:
            end = frames[n + 1].time if n + 1 < len(frames) else sampled.duration_s
            out.append(render_image(frames[n].image, render, start=frames[n].time, end=end))
    if "audio" in render.modalities and sampled.has_audio:
        out.append(render_audio(item.path, render, name=item.display_name))
    return out
