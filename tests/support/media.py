"""Real media made offline for tests and benches: espeak-ng speech, packaged photos, rendered
text, videos assembled with PyAV, and deliberately broken files.

Needs the Debian package ``espeak-ng`` for speech and ``scikit-image`` for the photos.
"""

from __future__ import annotations

import io
import math
import shutil
import struct
import subprocess
import wave
import zlib
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image as PILImage

SENTENCE = "Please remember to bring your laptop and the quarterly sales report to the meeting."
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
)


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


# --- audio ---------------------------------------------------------------------------------


def speech_wav(path: Path, text: str = SENTENCE, *, voice: str = "en-us", speed: int = 140) -> Path:
    """Speak ``text`` with espeak-ng into a WAV file (22.05 kHz mono)."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install -y espeak-ng)")
    subprocess.run([exe, "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
    return path


def read_audio(path: Path, rate: int = 16_000) -> Any:
    """Mono float32 samples at ``rate``."""
    import av
    import numpy as np

    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        parts = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for out in resampler.resample(frame)
        ]
        parts += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(parts).astype(np.float32)


def write_audio(path: Path, samples: Any, rate: int = 16_000, codec: str | None = None) -> Path:
    """Encode mono float samples with PyAV; the container follows the suffix."""
    import av
    import numpy as np

    suffix = path.suffix.lower()
    codec = (
        codec
        or {
            ".wav": "pcm_s16le",
            ".mp3": "libmp3lame",
            ".ogg": "libopus",
            ".opus": "libopus",
            ".m4a": "aac",
            ".webm": "libopus",
            ".flac": "flac",
        }[suffix]
    )
    fmt = {".m4a": "mp4", ".opus": "ogg", ".webm": "webm"}.get(suffix)
    out_rate = 48_000 if codec == "libopus" else rate
    data = np.asarray(samples, dtype=np.float32)
    if out_rate != rate:
        frame = av.AudioFrame.from_ndarray(data.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = rate
        resampler = av.AudioResampler(format="flt", layout="mono", rate=out_rate)
        data = np.concatenate([f.to_ndarray().reshape(-1) for f in resampler.resample(frame)])
        rate = out_rate
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate)
        assert isinstance(stream, av.AudioStream)
        stream.layout = "mono"
        _mux_audio(container, stream, data, rate)
    return path


def _mux_audio(container: Any, stream: Any, data: Any, rate: int, start: float = 0.0) -> None:
    import av
    import numpy as np

    fmt = stream.codec_context.format
    frame_size = stream.codec_context.frame_size or 1024
    resampler = av.AudioResampler(format=fmt.name, layout="mono", rate=rate)
    pts = int(start * rate)
    if start > 0:  # leading silence
        data = np.concatenate([np.zeros(int(start * rate), dtype=np.float32), data])
        pts = 0
    for i in range(0, len(data), frame_size):
        chunk = data[i : i + frame_size]
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = rate
        frame.time_base = Fraction(1, rate)
        frame.pts = pts
        pts += chunk.shape[0]
        for out in resampler.resample(frame):
            for packet in stream.encode(out):
                container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def tone(seconds: float, rate: int = 16_000, freq: float = 440.0) -> Any:
    import numpy as np

    t = np.arange(int(seconds * rate), dtype=np.float32) / rate
    return (0.2 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


# --- images --------------------------------------------------------------------------------


def photo(name: str) -> PILImage.Image:
    """A photo shipped by scikit-image: coffee, chelsea (a cat), astronaut, rocket."""
    from PIL import Image
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def font(size: int) -> Any:
    from PIL import ImageFont

    for candidate in FONT_CANDIDATES:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size=size)


def text_image(
    text: str, size: tuple[int, int] = (640, 200), font_size: int = 56
) -> PILImage.Image:
    """Black text on white, centred."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    fnt = font(font_size)
    box = draw.textbbox((0, 0), text, font=fnt)
    x = (size[0] - (box[2] - box[0])) // 2
    y = (size[1] - (box[3] - box[1])) // 2
    draw.text((x, y), text, fill="black", font=fnt)
    return img


def save_image(img: PILImage.Image, path: Path) -> Path:
    img.save(path)
    return path


# --- video ---------------------------------------------------------------------------------


def pick_video_codec(container_format: str) -> str:
    import av

    wanted = {
        "mp4": ("libx264", "h264", "mpeg4"),
        "mov": ("libx264", "h264", "mpeg4"),
        "matroska": ("libx264", "h264", "mpeg4"),
        "webm": ("libvpx", "libvpx-vp9"),
    }[container_format]
    for codec in wanted:
        if codec in av.codecs_available:
            try:
                av.codec.Codec(codec, "w")
                return codec
            except Exception:
                continue
    raise RuntimeError(f"no video encoder for {container_format} in this PyAV build")


def make_video(
    path: Path,
    scenes: list[tuple[PILImage.Image, float]],
    *,
    audio: Path | None = None,
    audio_start: float = 0.0,
    fps: int = 10,
    size: tuple[int, int] = (320, 240),
) -> Path:
    """A video of still scenes (image, seconds) with an optional speech track from ``audio``
    starting at ``audio_start`` seconds. The container follows the suffix (.mp4 .mov .mkv .webm).
    """
    import av
    import numpy as np

    suffix = path.suffix.lower()
    container_format = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}[suffix]
    vcodec = pick_video_codec(container_format)
    acodec = "libopus" if container_format == "webm" else "aac"
    arate = 48_000
    with av.open(str(path), mode="w", format=container_format) as container:
        vstream = container.add_stream(vcodec, rate=fps)
        assert isinstance(vstream, av.VideoStream)
        vstream.width, vstream.height = size
        vstream.pix_fmt = "yuv420p"
        astream = None
        if audio is not None:
            astream = container.add_stream(acodec, rate=arate)
            assert isinstance(astream, av.AudioStream)
            astream.layout = "mono"
        n = 0
        for img, seconds in scenes:
            arr = np.asarray(img.convert("RGB").resize(size))
            for _ in range(round(seconds * fps)):
                frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
                frame.pts = n
                frame.time_base = Fraction(1, fps)
                n += 1
                for packet in vstream.encode(frame):
                    container.mux(packet)
        for packet in vstream.encode(None):
            container.mux(packet)
        if astream is not None and audio is not None:
            samples = read_audio(audio, arate)
            total = n / fps
            samples = samples[: max(0, int((total - audio_start) * arate))]
            _mux_audio(container, astream, samples, arate, start=audio_start)
    return path


def mixed_corpus(folder: Path) -> Path:
    """A small knowledge base of every modality: three photos, two recordings, a video (an
    astronaut, then a ROADMAP slide from 3 s, speech about Berlin from 3 s) and a note."""
    save_image(photo("coffee"), folder / "breakfast.png")
    save_image(photo("chelsea"), folder / "pet.jpg")
    save_image(photo("rocket"), folder / "launch.png")
    speech_wav(
        folder / "budget.wav", "The marketing budget for next year is twelve thousand euros."
    )
    speech_wav(folder / "holiday.wav", "Our summer holiday will be in Portugal by the sea.")
    track = speech_wav(folder / "_track.wav", "The new office opens in Berlin next spring.")
    make_video(
        folder / "update.mp4",
        [(photo("astronaut"), 3.0), (text_image("ROADMAP"), 5.0)],
        audio=track,
        audio_start=3.0,
    )
    track.unlink()
    (folder / "notes.md").write_text("# Gardening\n\nTomatoes need six hours of sun a day.\n")
    return folder


def blank_pdf(path: Path) -> Path:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    with path.open("wb") as fh:
        writer.write(fh)
    return path


# --- broken files --------------------------------------------------------------------------


def truncated(src: Path, dst: Path, fraction: float = 0.5) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def corrupted(src: Path, dst: Path, keep_header: int = 64) -> Path:
    """Keep the first bytes (so the type still sniffs), scramble the rest."""
    import random

    data = bytearray(src.read_bytes())
    rng = random.Random(1234)
    for i in range(keep_header, len(data)):
        data[i] = rng.randrange(256)
    dst.write_bytes(bytes(data))
    return dst


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def bomb_png(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A valid-looking PNG whose header claims width x height (a decompression bomb's shape)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    idat = zlib.compress(b"\x00" * 1024)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )
    path.write_bytes(data)
    return path


# --- scoring -------------------------------------------------------------------------------


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word-level edit distance / reference length (case and punctuation off)."""
    import re

    def words(s: str) -> list[str]:
        return re.sub(r"[^a-z0-9' ]+", " ", s.lower()).split()

    ref, hyp = words(reference), words(hypothesis)
    if not ref:
        return float(bool(hyp))
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(ref)


# --- small valid files, as bytes (the seeds of the hostile-media tests) ------------------------


def png_bytes(size: tuple[int, int] = (16, 12), color: str = "red") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), "blue").save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def wav_bytes(seconds: float = 0.25, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))
        )
        w.writeframes(frames)
    return buffer.getvalue()


def mp4_bytes(tmp: Path) -> bytes:
    from PIL import Image

    path = make_video(tmp / "clip.mp4", [(Image.new("RGB", (64, 48), "green"), 0.5)], size=(64, 48))
    return path.read_bytes()


def pdf_bytes(text: str = "The meeting is on Tuesday.") -> bytes:
    """A one-page PDF with real text (written by hand: pypdf cannot add text)."""
    stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return build_pdf(objects)


def build_pdf(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
