"""Whisper plugin on the packaged tiny.en model: real speech, real formats, timestamps."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.plugins import MediaItem
from plugins.whisper import WhisperOptions
from tests.support import media as mf

pytestmark = [pytest.mark.models, pytest.mark.slow]


def test_transcribes_known_sentence(whisper_encoder, speech_wav: Path) -> None:
    [enc] = whisper_encoder.encode([MediaItem(speech_wav, "audio/wav")], WhisperOptions())
    assert enc.encoder == "whisper" and enc.version == whisper_encoder.version
    assert mf.wer(mf.SENTENCE, enc.text) < 0.15, enc.text
    assert enc.segments and all(s.kind == "speech" for s in enc.segments)
    assert enc.segments[0].start is not None and enc.segments[0].start < 1.0
    assert enc.metadata["language"] == "en"
    assert enc.metadata["backend"] == "faster-whisper"


@pytest.mark.parametrize("suffix", [".mp3", ".ogg", ".m4a", ".webm", ".flac"])
def test_decodes_compressed_formats(
    whisper_encoder, speech_wav: Path, media_dir: Path, suffix: str
) -> None:
    samples = mf.read_audio(speech_wav)
    path = mf.write_audio(media_dir / f"speech{suffix}", samples)
    [enc] = whisper_encoder.encode([MediaItem(path, "audio/x")], WhisperOptions(beam_size=1))
    assert mf.wer(mf.SENTENCE, enc.text) < 0.25, (suffix, enc.text)


def test_long_audio_in_windows_keeps_offsets(
    whisper_encoder, speech_wav: Path, media_dir: Path
) -> None:
    """Speech, 8 s of silence, speech again; 6 s windows: the second sentence lands at its time."""
    import numpy as np

    speech = mf.read_audio(speech_wav)
    gap = np.zeros(8 * 16_000, dtype=np.float32)
    path = mf.write_audio(media_dir / "twice.wav", np.concatenate([speech, gap, speech]))
    second_start = (speech.shape[0] + gap.shape[0]) / 16_000
    [enc] = whisper_encoder.encode(
        [MediaItem(path, "audio/wav")], WhisperOptions(window_seconds=6.0, beam_size=1)
    )
    assert mf.wer(mf.SENTENCE + " " + mf.SENTENCE, enc.text) < 0.25, enc.text
    late = [s for s in enc.segments if s.start is not None and s.start > second_start - 1.5]
    assert late and abs(late[0].start - second_start) < 1.5, enc.segments
    starts = [s.start for s in enc.segments]
    assert starts == sorted(starts)


def test_batch_returns_one_encoding_per_item_in_order(
    whisper_encoder, speech_wav: Path, media_dir: Path
) -> None:
    silence = mf.write_audio(media_dir / "quiet.wav", mf.tone(1.0, freq=0.0))
    out = whisper_encoder.encode(
        [MediaItem(silence, "audio/wav"), MediaItem(speech_wav, "audio/wav")],
        WhisperOptions(beam_size=1),
    )
    assert len(out) == 2
    assert mf.wer(mf.SENTENCE, out[1].text) < 0.25
    assert len(out[0].text) < len(out[1].text)


def test_multilingual_base_joins_parts_once_and_detects_language(
    speech_wav: Path, media_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plugins.whisper import WhisperEncoder
    from plugins.whisper.models import _parts, base_dir

    monkeypatch.setenv("ASSISTANT_CACHE_DIR", str(tmp_path))
    folder = base_dir()
    model = folder / "model.bin"
    assert folder.parent == tmp_path / "models"
    assert model.stat().st_size == sum(p.stat().st_size for p in _parts()[1])
    mtime = model.stat().st_mtime_ns
    assert base_dir() == folder and model.stat().st_mtime_ns == mtime  # joined once
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp left

    enc = WhisperEncoder(model="base", backend="faster-whisper", model_path="")
    enc.load()
    [en] = enc.encode([MediaItem(speech_wav, "audio/wav")], WhisperOptions(beam_size=1))
    assert en.metadata["language"] == "en" and mf.wer(mf.SENTENCE, en.text) < 0.25, en.text
    german = mf.speech_wav(media_dir / "de.wav", "Guten Morgen, wie geht es dir heute?", voice="de")
    [de] = enc.encode([MediaItem(german, "audio/wav")], WhisperOptions(beam_size=1))
    assert de.metadata["language"] == "de", de.metadata
    assert de.metadata["language_probability"] > 0.3
