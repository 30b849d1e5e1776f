"""Sniffing real media types from bytes, and refusing bad media with the right error."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import MediaLimits
from assistant.errors import PayloadTooLarge, UnprocessableMedia, UnsupportedMedia
from assistant.media import require_kind, sniff_media_type, validate_media
from tests.support import media as mf

pytestmark = [pytest.mark.unit, pytest.mark.security]


@pytest.fixture(scope="module")
def samples(media_dir: Path) -> dict[str, Path]:
    """One small file per supported format, named misleadingly (.bin) on purpose."""
    out: dict[str, Path] = {}
    img = mf.photo("coffee").resize((64, 48))
    for fmt, mime in [
        ("PNG", "image/png"),
        ("JPEG", "image/jpeg"),
        ("WEBP", "image/webp"),
        ("GIF", "image/gif"),
        ("BMP", "image/bmp"),
    ]:
        path = media_dir / f"img_{fmt.lower()}.bin"
        img.save(path, format=fmt)
        out[mime] = path
    tone = mf.tone(1.5)
    for suffix, mime in [
        (".wav", "audio/wav"),
        (".mp3", "audio/mpeg"),
        (".ogg", "audio/ogg"),
        (".m4a", "audio/mp4"),
        (".webm", "audio/webm"),
        (".flac", "audio/flac"),
    ]:
        real = mf.write_audio(media_dir / f"tone{suffix}", tone)
        path = media_dir / f"aud_{suffix[1:]}.bin"
        path.write_bytes(real.read_bytes())
        out[mime] = path
    still = [(mf.photo("coffee"), 1.0)]
    for suffix, mime in [
        (".mp4", "video/mp4"),
        (".mov", "video/quicktime"),
        (".mkv", "video/x-matroska"),
        (".webm", "video/webm"),
    ]:
        real = mf.make_video(media_dir / f"clip{suffix}", still, fps=5, size=(64, 48))
        path = media_dir / f"vid_{suffix[1:]}.bin"
        path.write_bytes(real.read_bytes())
        out[mime] = path
    mf.blank_pdf(media_dir / "doc_pdf.bin")
    out["application/pdf"] = media_dir / "doc_pdf.bin"
    (media_dir / "doc_txt.bin").write_text("Plain words, nothing more.\nSecond line.\n")
    out["text/plain"] = media_dir / "doc_txt.bin"
    (media_dir / "doc_md.bin").write_text("# Title\n\nSome *markdown* text.\n")
    out["text/markdown"] = media_dir / "doc_md.bin"
    (media_dir / "doc_html.bin").write_text("<!DOCTYPE html><html><body>Hi</body></html>")
    out["text/html"] = media_dir / "doc_html.bin"
    return out


EXPECTED = [
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/gif",
    "image/bmp",
    "audio/wav",
    "audio/mpeg",
    "audio/ogg",
    "audio/mp4",
    "audio/webm",
    "audio/flac",
    "video/mp4",
    "video/quicktime",
    "video/x-matroska",
    "video/webm",
    "application/pdf",
    "text/plain",
    "text/markdown",
    "text/html",
]


@pytest.mark.parametrize("mime", EXPECTED)
def test_sniffs_type_from_bytes_not_names(samples: dict[str, Path], mime: str) -> None:
    path = samples[mime]
    assert sniff_media_type(path, declared="application/octet-stream") == mime
    assert sniff_media_type(path.read_bytes()) == mime


@pytest.mark.parametrize("mime", EXPECTED)
def test_valid_samples_pass_validation(samples: dict[str, Path], mime: str) -> None:
    info = validate_media(samples[mime], mime, MediaLimits())
    assert info.size_bytes > 0


def test_mislabelled_png_declared_as_wav_is_an_image_and_a_415_for_audio(
    samples: dict[str, Path],
) -> None:
    mime = sniff_media_type(samples["image/png"], declared="audio/wav")
    assert mime == "image/png"
    with pytest.raises(UnsupportedMedia) as err:
        require_kind(mime, "audio", name="voice.wav")
    assert err.value.status == 415


def test_zero_byte_file_is_unprocessable(media_dir: Path) -> None:
    empty = media_dir / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(UnprocessableMedia, match="empty"):
        sniff_media_type(empty)
    with pytest.raises(UnprocessableMedia, match="empty"):
        validate_media(empty, "audio/wav", MediaLimits())


def test_unknown_bytes_are_unsupported() -> None:
    with pytest.raises(UnsupportedMedia):
        sniff_media_type(bytes(range(256)) * 4)


@pytest.mark.parametrize(
    "mime", ["image/png", "image/jpeg", "video/mp4", "audio/flac", "audio/mp4"]
)
def test_truncated_files_are_unprocessable(
    samples: dict[str, Path], media_dir: Path, mime: str
) -> None:
    src = samples[mime]
    bad = mf.truncated(src, media_dir / f"trunc_{src.name}", 0.3)
    assert sniff_media_type(bad) in {mime, "video/mp4"}
    with pytest.raises(UnprocessableMedia):
        validate_media(bad, mime, MediaLimits())


@pytest.mark.parametrize("mime", ["image/png", "image/jpeg", "video/mp4", "video/webm"])
def test_corrupt_files_are_unprocessable(
    samples: dict[str, Path], media_dir: Path, mime: str
) -> None:
    src = samples[mime]
    bad = mf.corrupted(src, media_dir / f"corrupt_{src.name}", keep_header=48)
    with pytest.raises(UnprocessableMedia):
        validate_media(bad, mime, MediaLimits())


def test_png_with_a_zeroed_half_is_unprocessable(samples: dict[str, Path], media_dir: Path) -> None:
    # Pillow decodes such a file without complaint (it skips chunk checksums while loading)
    data = samples["image/png"].read_bytes()
    bad = media_dir / "zeroed.png"
    bad.write_bytes(data[: len(data) // 2] + bytes(len(data) - len(data) // 2))
    with pytest.raises(UnprocessableMedia, match="corrupt"):
        validate_media(bad, "image/png", MediaLimits())


def test_decompression_bomb_is_refused_before_decoding(media_dir: Path) -> None:
    bomb = mf.bomb_png(media_dir / "bomb.png", 100_000, 100_000)
    assert sniff_media_type(bomb) == "image/png"
    with pytest.raises(PayloadTooLarge, match="100000 x 100000"):
        validate_media(bomb, "image/png", MediaLimits())


def test_image_over_pixel_limit(samples: dict[str, Path]) -> None:
    with pytest.raises(PayloadTooLarge, match="megapixels"):
        validate_media(samples["image/png"], "image/png", MediaLimits(max_image_pixels=1000))


def test_over_long_audio_says_how_long(media_dir: Path) -> None:
    long_wav = mf.write_audio(media_dir / "long.wav", mf.tone(12.0))
    with pytest.raises(PayloadTooLarge, match=r"long.wav is 12 s long; the limit is 5 s"):
        validate_media(long_wav, "audio/wav", MediaLimits(max_audio_seconds=5))


def test_over_long_video(samples: dict[str, Path]) -> None:
    with pytest.raises(PayloadTooLarge, match="the limit is"):
        validate_media(samples["video/mp4"], "video/mp4", MediaLimits(max_video_seconds=0.5))


def test_file_over_byte_limit(samples: dict[str, Path]) -> None:
    with pytest.raises(PayloadTooLarge, match="the limit is 10 bytes"):
        validate_media(samples["audio/wav"], "audio/wav", MediaLimits(max_file_bytes=10))


def test_audio_decoder_enforces_duration_while_decoding(media_dir: Path) -> None:
    from plugins.whisper.audio import iter_audio_chunks

    long_wav = mf.write_audio(media_dir / "long2.wav", mf.tone(12.0))
    with pytest.raises(PayloadTooLarge):
        for _ in iter_audio_chunks(long_wav, 2.0, max_seconds=5.0):
            pass


def test_audio_decoder_chunks_resample_to_16k(samples: dict[str, Path]) -> None:
    from plugins.whisper.audio import SAMPLE_RATE, iter_audio_chunks

    for mime in ["audio/wav", "audio/mpeg", "audio/ogg", "audio/mp4", "audio/webm", "audio/flac"]:
        chunks = list(iter_audio_chunks(samples[mime], 0.5))
        total = sum(c.shape[0] for c in chunks)
        assert all(c.dtype.name == "float32" and c.ndim == 1 for c in chunks)
        assert all(c.shape[0] == SAMPLE_RATE // 2 for c in chunks[:-1])
        assert abs(total / SAMPLE_RATE - 1.5) < 0.15, (mime, total / SAMPLE_RATE)


def test_human_messages() -> None:
    from assistant.media import format_bytes, format_duration

    assert format_duration(5.2 * 3600) == "5.2 h"
    assert format_duration(4 * 3600) == "4 h"
    assert format_duration(90) == "1.5 min"
    assert format_bytes(250 * 1024 * 1024) == "250 MB"
