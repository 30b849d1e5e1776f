"""The Whisper encoder: transcript with segment timestamps, two interchangeable backends.

- ``faster-whisper`` (default): CTranslate2, int8 on CPU, reads the packaged weights.
- ``openai-whisper``: the reference implementation, ``whisper.load_model(path)`` on a ``.pt``.

Long audio is decoded and transcribed in windows; the last (possibly cut) segment of a window
is carried into the next one, so words at window edges are not lost and memory stays flat.
"""

from __future__ import annotations

import gc
import logging
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.config import get_settings
from assistant.errors import InvalidRequest, PluginError
from assistant.media import AUDIO_TYPES
from assistant.plugins.contract import (
    Device,
    Encoder,
    Encoding,
    MediaItem,
    Modality,
    RenderOptions,
    Segment,
)
from plugins.whisper import models
from plugins.whisper.audio import iter_audio_chunks, render_audio
from plugins.whisper.settings import WhisperSettings

if TYPE_CHECKING:
    import numpy as np

SAMPLE_RATE = 16_000
log = logging.getLogger(__name__)


SILENCE_RMS = 0.004  # about -48 dBFS: quieter 20 ms frames count as silence
_FRAME = SAMPLE_RATE // 50  # 20 ms


def _frame_rms(audio: np.ndarray) -> np.ndarray:
    import numpy as np

    n = audio.shape[0] // _FRAME
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    frames = audio[: n * _FRAME].reshape(n, _FRAME)
    energy: np.ndarray = np.sqrt((frames.astype(np.float32) ** 2).mean(axis=1))
    return energy


def _leading_silence(audio: np.ndarray, margin_s: float = 0.2) -> int:
    """Samples of silence before the first sound, less a margin (all of it if silent)."""
    import numpy as np

    rms = _frame_rms(audio)
    loud = np.flatnonzero(rms > SILENCE_RMS)
    if loud.size == 0:
        return (
            int(audio.shape[0]) if float(np.abs(audio).max(initial=0.0)) <= SILENCE_RMS * 4 else 0
        )
    return max(0, int(loud[0]) * _FRAME - int(margin_s * SAMPLE_RATE))


def _quiet_cut(window: np.ndarray, search_fraction: float = 0.25) -> int:
    """Where to end a window: the quietest 300 ms in its last quarter (a pause)."""
    import numpy as np

    rms = _frame_rms(window)
    if rms.size < 10:
        return int(window.shape[0])
    first = int(rms.size * (1 - search_fraction))
    smooth = np.convolve(rms, np.ones(15, dtype=np.float32) / 15, mode="same")  # 300 ms
    best = first + int(np.argmin(smooth[first:]))
    return max(_FRAME, (best + 1) * _FRAME)


class WhisperOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: str | None = Field(None, description="ISO code; empty = detect (multilingual model)")
    beam_size: int = Field(5, ge=1, le=10)
    vad_filter: bool = Field(False, description="skip silence with Silero VAD (faster-whisper)")
    window_seconds: float = Field(30.0, ge=5.0, le=600.0)
    prompt: str | None = Field(
        None, max_length=1000, description="text that primes the vocabulary (names, spelling)"
    )
    task: Literal["transcribe", "translate"] = Field(
        "transcribe", description="translate: English text from speech in any language"
    )
    render: RenderOptions | None = None


@dataclass
class RawSegment:
    start: float
    end: float
    text: str
    meta: dict[str, Any] = field(default_factory=dict)


class _FasterWhisper:
    backend = "faster-whisper"

    def __init__(
        self, model_dir: Path, device: str, compute_type: str = "auto", threads: int | None = None
    ) -> None:
        from faster_whisper import WhisperModel

        if compute_type == "auto":  # int8 on a CPU; float16 on a GPU (int8_float16 to save memory)
            compute_type = "int8" if device == "cpu" else "float16"
        self.model = WhisperModel(
            str(model_dir),
            device=device,
            compute_type=compute_type,
            cpu_threads=threads or 0,  # 0: CTranslate2's default
            local_files_only=True,
        )
        self.multilingual = bool(self.model.model.is_multilingual)

    def transcribe(
        self, audio: np.ndarray, language: str | None, opts: WhisperOptions
    ) -> tuple[list[RawSegment], str | None, float | None]:
        segments, info = self.model.transcribe(
            audio,
            language=language if self.multilingual else "en",
            beam_size=opts.beam_size,
            vad_filter=opts.vad_filter,
            condition_on_previous_text=False,
            initial_prompt=opts.prompt,
            task=opts.task if self.multilingual else "transcribe",
        )
        out = [
            RawSegment(
                float(s.start),
                float(s.end),
                s.text.strip(),
                {
                    "avg_logprob": round(s.avg_logprob, 4),
                    "no_speech_prob": round(s.no_speech_prob, 4),
                },
            )
            for s in segments
        ]
        return out, info.language, float(info.language_probability)


class _OpenAIWhisper:
    backend = "openai-whisper"

    def __init__(self, checkpoint: Path, device: str) -> None:
        import whisper

        self.model = whisper.load_model(str(checkpoint), device=device)
        self.multilingual = bool(self.model.is_multilingual)
        # whisper reads its tokenizer files without closing them; load them once, here, quietly
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            whisper.tokenizer.get_tokenizer(
                self.multilingual, num_languages=self.model.num_languages, task="transcribe"
            )
            gc.collect()
        self.fp16 = device == "cuda"

    def transcribe(
        self, audio: np.ndarray, language: str | None, opts: WhisperOptions
    ) -> tuple[list[RawSegment], str | None, float | None]:
        kwargs: dict[str, Any] = {
            "language": language if self.multilingual else "en",
            "temperature": 0.0,
            "condition_on_previous_text": False,
            "fp16": self.fp16,
            "verbose": None,
            "initial_prompt": opts.prompt,
            "task": opts.task if self.multilingual else "transcribe",
        }
        # beam_size=None is greedy decoding; whisper uses its beam decoder for any number
        beam = opts.beam_size if opts.beam_size > 1 else None
        try:
            result = self.model.transcribe(audio, beam_size=beam, **kwargs)
        except TypeError:
            if beam is None:
                raise
            # openai-whisper 20250625's beam finalize calls np.argsort on a torch tensor, which
            # numpy 2.4 refuses when a beam did not finish; greedy decoding is unaffected
            log.warning("openai-whisper beam search failed under this numpy; decoding greedily")
            result = self.model.transcribe(audio, beam_size=None, **kwargs)
        out = [
            RawSegment(
                float(s["start"]),
                float(s["end"]),
                str(s["text"]).strip(),
                {"avg_logprob": round(float(s["avg_logprob"]), 4)},
            )
            for s in result["segments"]
        ]
        return out, result.get("language"), None


class WhisperEncoder(Encoder[WhisperOptions]):
    name = "whisper"
    version = "1"
    modality = Modality.AUDIO
    media_types = AUDIO_TYPES
    devices = frozenset({Device.CPU, Device.CUDA})
    gpu_memory_mb = 1000  # base in float16 with the CUDA context; tiny.en needs less
    Options = WhisperOptions
    renders = frozenset({"audio"})
    default_batch_size = 1  # see bench/bench_encoders.py: batching buys nothing on CPU

    def __init__(
        self,
        model: Literal["tiny.en", "base"] | None = None,
        backend: Literal["faster-whisper", "openai-whisper"] | None = None,
        model_path: str | None = None,
    ) -> None:
        self._model_name = model
        self._backend_name = backend
        self._model_path = model_path
        self._impl: _FasterWhisper | _OpenAIWhisper | None = None
        self._lock = threading.Lock()
        self.max_seconds: float | None = None

    # loading -------------------------------------------------------------------------

    def _resolve(self) -> tuple[str, str, Path, str]:
        settings = get_settings()
        own = WhisperSettings()
        model = self._model_name or own.model
        backend = self._backend_name or own.backend
        path = self._model_path if self._model_path is not None else own.model_path
        if self.max_seconds is None:
            self.max_seconds = settings.media.max_audio_seconds
        if path:
            return model, backend, Path(path), self.device.value
        if backend == "openai-whisper":
            raise PluginError(
                "the 'openai-whisper' backend needs ASSISTANT_WHISPER_MODEL_PATH "
                "(a local .pt checkpoint); model names would be downloaded"
            )
        folder = models.tiny_en_dir() if model == "tiny.en" else models.base_dir()
        return model, backend, folder, self.device.value

    def load(self) -> None:
        with self._lock:
            if self._impl is not None:
                return
            model, backend, path, device = self._resolve()
            if not path.exists():
                raise PluginError(f"Whisper model not found at {path}")
            impl: _FasterWhisper | _OpenAIWhisper
            impl = (
                _OpenAIWhisper(path, device)
                if backend == "openai-whisper"
                else _FasterWhisper(path, device, WhisperSettings().compute_type, self.threads)
            )
            self.model_label = model if not self._model_path else path.name
            self._impl = impl

    @property
    def backend(self) -> str:
        return self._impl.backend if self._impl else (self._backend_name or "")

    # encoding ------------------------------------------------------------------------

    def encode(self, items: Sequence[MediaItem], options: WhisperOptions) -> list[Encoding]:
        self.load()
        out = []
        for item in items:
            encoding = self.encode_path(item.path, options, name=item.display_name)
            render = options.render
            if render is not None and "audio" in render.modalities:
                clip = render_audio(item.path, render, name=item.display_name)
                encoding = encoding.model_copy(update={"renditions": [clip]})
            out.append(encoding)
        return out

    def encode_path(
        self,
        path: Path,
        opts: WhisperOptions,
        *,
        name: str | None = None,
        max_seconds: float | None = None,
    ) -> Encoding:
        """Transcribe a file (or a video's audio track); ``max_seconds`` overrides the limit."""
        self.load()
        chunks = iter_audio_chunks(
            path,
            opts.window_seconds,
            max_seconds=max_seconds if max_seconds is not None else self.max_seconds,
            name=name or path.name,
        )
        return self.encode_chunks(chunks, opts)

    def encode_chunks(self, chunks: Iterable[np.ndarray], opts: WhisperOptions) -> Encoding:
        """Transcribe a stream of 16 kHz mono float32 chunks (any sizes) as one recording."""
        import numpy as np

        self.load()
        impl = self._impl
        if impl is None:  # load() sets it or raises
            raise PluginError("the Whisper model is not loaded")
        if not impl.multilingual and (
            (opts.language or "en").lower() != "en" or opts.task == "translate"
        ):
            what = "translate" if opts.task == "translate" else f"transcribe {opts.language!r}"
            raise InvalidRequest(
                f"the Whisper model served here is English-only and cannot {what}; set "
                "ASSISTANT_WHISPER_MODEL=base for a multilingual model",
                param="language" if opts.task != "translate" else "model",
            )
        window = int(opts.window_seconds * SAMPLE_RATE)
        language = opts.language
        detected: str | None = None
        probability: float | None = None
        segments: list[Segment] = []
        pending = np.zeros(0, dtype=np.float32)
        offset = 0.0
        total = 0
        source = iter(chunks)
        exhausted = False
        while True:
            while not exhausted and pending.shape[0] < window:
                try:
                    chunk = next(source)
                except StopIteration:
                    exhausted = True
                    break
                total += chunk.shape[0]
                pending = np.concatenate([pending, chunk.astype(np.float32, copy=False)])
            if pending.shape[0] == 0:
                break
            final = exhausted and pending.shape[0] <= window
            cut = pending.shape[0] if final else _quiet_cut(pending[:window])
            audio = pending[:cut]
            lead = _leading_silence(audio)
            consumed = audio.shape[0]
            raw: list[RawSegment] = []
            if lead < audio.shape[0]:  # an all-silent window is skipped: no hallucinated words
                raw, lang, prob = impl.transcribe(audio[lead:], language, opts)
                if detected is None:
                    detected, probability = lang, prob
                    if impl.multilingual and language is None and lang:
                        language = lang  # keep one language across windows
                if not final and len(raw) > 1 and raw[-1].start > 1.0:
                    consumed = lead + int(raw[-1].start * SAMPLE_RATE)
                    raw = raw[:-1]  # may be cut by the window edge: redo it in the next window
            base = offset + lead / SAMPLE_RATE
            for seg in raw:
                if not seg.text:
                    continue
                start = round(base + seg.start, 3)
                end = round(min(base + seg.end, offset + audio.shape[0] / SAMPLE_RATE), 3)
                segments.append(
                    Segment(
                        text=seg.text,
                        kind="speech",
                        start=start,
                        end=max(start, end),
                        metadata=seg.meta,
                    )
                )
            pending = pending[consumed:]
            offset += consumed / SAMPLE_RATE
            if final and pending.shape[0] == 0:
                break
        duration = round(total / SAMPLE_RATE, 3)
        text = " ".join(s.text for s in segments)
        return self.encoding(
            text,
            segments=segments,
            metadata={
                "language": detected if impl.multilingual else "en",
                "language_probability": probability if impl.multilingual else None,
                "duration_s": duration,
                "model": getattr(self, "model_label", ""),
                "backend": impl.backend,
            },
        )
