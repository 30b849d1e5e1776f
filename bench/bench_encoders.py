"""Encoder benchmarks (not a timed test): prints figures, asserts nothing.

    .venv/bin/python bench/bench_encoders.py            # about 3-4 minutes on 2 cores

- audio real-time factor through the plugin vs faster-whisper called directly (overhead ratio)
- throughput of each encoder and of the text embedder at batch sizes 1, 4, 8, 16
- video seconds processed per second, and the frame-skipping saving vs uniform sampling
Media is generated under bench/.cache (espeak-ng speech, scikit-image photos, PyAV videos).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from assistant.plugins import MediaItem  # noqa: E402
from tests.support import media as mf  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
PARAGRAPH = (
    "Welcome to the weekly planning meeting. First we review the budget for the next quarter. "
    "Sales grew by twelve percent, mostly in the northern region. The new warehouse opens in "
    "March, and we still need two forklift drivers. Marketing asks for a decision on the spring "
    "campaign by Friday. Finally, remember that the office is closed on Monday for maintenance."
)
BATCHES = (1, 4, 8, 16)


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def media() -> dict[str, Path]:
    CACHE.mkdir(parents=True, exist_ok=True)
    out = {}
    out["speech"] = CACHE / "meeting.wav"
    if not out["speech"].exists():
        mf.speech_wav(out["speech"], PARAGRAPH, speed=150)
    out["short"] = CACHE / "short.wav"
    if not out["short"].exists():
        mf.speech_wav(out["short"], "Please send the report before noon.", speed=150)
    for name in ("coffee", "chelsea", "astronaut", "rocket"):
        out[name] = CACHE / f"{name}.jpg"
        if not out[name].exists():
            mf.photo(name).save(out[name], quality=90)
    out["video"] = CACHE / "talk.mp4"
    if not out["video"].exists():
        scenes = [(mf.photo(n), 15.0) for n in ("coffee", "chelsea", "astronaut", "rocket")]
        mf.make_video(out["video"], scenes, audio=out["speech"], audio_start=2.0, fps=15)
    out["clip"] = CACHE / "clip.mp4"
    if not out["clip"].exists():
        mf.make_video(
            out["clip"],
            [(mf.photo("coffee"), 1.0), (mf.photo("chelsea"), 1.0)],
            audio=out["short"],
            fps=10,
        )
    return out


def bench_audio(files: dict[str, Path]) -> None:
    from faster_whisper import WhisperModel

    from plugins.whisper import WhisperEncoder, WhisperOptions
    from plugins.whisper.audio import load_audio
    from plugins.whisper.models import tiny_en_dir

    duration = load_audio(files["speech"]).shape[0] / 16_000
    enc = WhisperEncoder(model="tiny.en", backend="faster-whisper", model_path="")
    _, load_s = timed(enc.load)
    direct = WhisperModel(
        str(tiny_en_dir()), device="cpu", compute_type="int8", local_files_only=True
    )
    item = [MediaItem(files["speech"], "audio/wav")]
    enc.encode(item, WhisperOptions())  # warm-up
    plugin_s = min(timed(enc.encode, item, WhisperOptions())[1] for _ in range(2))

    def run_direct() -> str:
        segments, _ = direct.transcribe(
            str(files["speech"]), beam_size=5, condition_on_previous_text=False
        )
        return " ".join(s.text for s in segments)

    run_direct()
    direct_s = min(timed(run_direct)[1] for _ in range(2))
    print(
        f"\n## audio (whisper tiny.en int8, beam 5), {duration:.1f} s of speech; model load {load_s:.2f} s"
    )
    print(
        f"plugin RTF {plugin_s / duration:.3f} ({plugin_s:.2f} s)  direct faster-whisper RTF "
        f"{direct_s / duration:.3f} ({direct_s:.2f} s)  overhead ratio {plugin_s / direct_s:.2f}"
    )
    short = load_audio(files["short"]).shape[0] / 16_000
    print(f"throughput on {short:.1f} s clips (items/s, audio s/s):")
    for n in BATCHES:
        items = [MediaItem(files["short"], "audio/wav")] * n
        _, s = timed(enc.encode, items, WhisperOptions())
        print(f"  batch {n:2d}: {n / s:6.2f} items/s  {n * short / s:6.1f} audio s/s")


def bench_vision(files: dict[str, Path]) -> None:
    from plugins.vision import VisionEncoder, VisionOptions

    enc = VisionEncoder(clip_model="")
    _, load_s = timed(enc.load)
    photos = [files[n] for n in ("coffee", "chelsea", "astronaut", "rocket")]
    enc.encode([MediaItem(photos[0], "image/jpeg")], VisionOptions())
    print(f"\n## vision (EfficientNet-Lite0 + RapidOCR + embedding); load {load_s:.2f} s")
    for ocr in (True, False):
        row = []
        for n in BATCHES:
            items = [MediaItem(photos[i % 4], "image/jpeg") for i in range(n)]
            _, s = timed(enc.encode, items, VisionOptions(ocr=ocr))
            row.append(f"b{n}: {n / s:5.1f}/s")
        print(f"  ocr={'on ' if ocr else 'off'} images/s  " + "  ".join(row))
    from plugins.vision.images import open_image

    imgs = [open_image(p, 10**8) for p in photos]
    row = []
    for n in BATCHES:
        batch = [imgs[i % 4] for i in range(n)]
        enc.classify(batch)
        _, s = timed(enc.classify, batch)
        row.append(f"b{n}: {n / s:5.1f}/s")
    print("  classifier only images/s  " + "  ".join(row))


class DefaultReader:
    """The baseline: RapidOCR with its own defaults on every image (what the encoder did
    before the gate: detection with the short side scaled to 736 px)."""

    def __init__(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self.engine = RapidOCR()

    def read(self, img, min_score: float, gate: bool = True):  # noqa: ARG002 (never gated)
        import numpy as np

        result, _ = self.engine(np.ascontiguousarray(np.asarray(img)[:, :, ::-1]))
        return [
            {"text": str(t), "score": float(s), "box": []}
            for _, t, s in result or []
            if float(s) >= min_score
        ]


def ocr_mixed_set():
    """Half photos without text, half with: (image, words expected or empty)."""
    from PIL import Image, ImageDraw
    from skimage import data

    out: list[tuple[Any, tuple[str, ...]]]
    out = [(mf.photo(n), ()) for n in ("coffee", "chelsea", "astronaut", "rocket")]
    out += [(Image.fromarray(getattr(data, n)()).convert("RGB"), ()) for n in ("camera", "cat")]
    out.append((Image.fromarray(data.page()).convert("RGB"), ("segmentation", "markers")))
    for text in ("OPEN SUNDAY 9AM", "INVOICE 4711", "ROADMAP"):
        out.append((mf.text_image(text), tuple(text.split())))
    caption = mf.photo("coffee")
    ImageDraw.Draw(caption).text((20, 20), "OPEN DAILY 8-18", fill="white", font=mf.font(28))
    out.append((caption, ("OPEN", "DAILY")))
    scan = mf.text_image("Meeting at noon", size=(1200, 800), font_size=20)
    out.append((scan, ("Meeting", "noon")))
    return out


def bench_ocr() -> None:
    """OCR on a mixed set: the gated reader against RapidOCR's defaults on every image."""
    from plugins.vision import VisionEncoder, VisionOptions
    from plugins.vision.ocr import TextReader

    images = ocr_mixed_set()
    with_text = sum(1 for _, words in images if words)
    print(f"\n## OCR, mixed set of {len(images)} images ({with_text} with text)")
    times = {}
    for name, reader in (("RapidOCR defaults (before)", DefaultReader()), ("gated", TextReader())):
        reader.read(images[0][0], 0.5)  # warm-up
        t0 = time.perf_counter()
        found = total = false_text = 0
        for img, words in images:
            lines = reader.read(img, 0.5) or []
            text = " ".join(line["text"] for line in lines if line["score"] >= 0.5).upper()
            found += sum(1 for w in words if w.upper() in text)
            total += len(words)
            false_text += bool(text.strip()) and not words
        times[name] = time.perf_counter() - t0
        print(
            f"  {name:28s} {len(images) / times[name]:5.2f} images/s  words found "
            f"{found}/{total}  text on a photo without any {false_text}"
        )
    before, after = times.values()
    print(f"  gated over defaults: x{before / after:.2f} images/s (goal >= 3x)")
    enc = VisionEncoder(clip_model="")
    enc.load()
    paths = []
    for n, (img, _) in enumerate(images):
        paths.append(mf.save_image(img, CACHE / f"ocr-mixed-{n}.png"))
    items = [MediaItem(p, "image/png") for p in paths]
    rates = {}
    for name, reader in (("before", DefaultReader()), ("gated", enc._ocr)):
        enc._ocr = reader
        enc.encode(items[:1], VisionOptions())
        _, s = timed(enc.encode, items, VisionOptions())
        rates[name] = len(items) / s
    print(
        f"  vision encoder with OCR, batch {len(items)}: {rates['before']:.2f} -> "
        f"{rates['gated']:.2f} images/s (x{rates['gated'] / rates['before']:.2f})"
    )
    bench_resent(enc, items)


def bench_resent(enc, items) -> None:
    """A conversation's images sent again with the next turn: through the encode cache, in the
    same API process and in another one (a replica that reads them from Redis)."""
    import asyncio
    import tempfile

    from assistant.dispatch.cache import CachedDispatch, SharedEncodings
    from assistant.dispatch.local import InProcessDispatch
    from assistant.embedded import EmbeddedRedis
    from assistant.plugins import hookimpl
    from assistant.plugins.registry import Registry

    class Plugin:
        @hookimpl
        def register_encoders(self, register) -> None:
            register(enc)

    registry = Registry()
    registry.add_plugin(Plugin(), "bench-vision")
    plain = InProcessDispatch(registry)

    async def turn(dispatch) -> float:
        t0 = time.perf_counter()
        results = await dispatch.encode("bench", items)
        assert all(not isinstance(r, BaseException) for r in results), results
        return time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as folder:
        redis = EmbeddedRedis(Path(folder))
        url = redis.start()
        try:
            one, other = (
                CachedDispatch(plain, registry, 64 << 20, SharedEncodings(url, 600))
                for _ in range(2)
            )

            async def run() -> tuple[float, float, float, float]:
                again = await turn(plain)  # what every turn cost before
                first = await turn(one)
                resent = await turn(one)
                elsewhere = await turn(other)  # the next turn reached another replica
                return again, first, resent, elsewhere

            again, first, resent, elsewhere = asyncio.run(run())
        finally:
            redis.stop()
    print(
        f"  the {len(items)} images resent with the next turn: {again * 1000:.0f} ms encoded again "
        f"(before), {resent * 1000:.1f} ms from the encode cache (first turn {first * 1000:.0f} ms),"
        f" {elsewhere * 1000:.1f} ms in another API process (from Redis)"
    )


def bench_embedder() -> None:
    from assistant.embeddings import get_embedder

    emb = get_embedder()
    emb.load()
    texts = [f"sentence number {i} about coffee, cats and rockets in space" for i in range(64)]
    emb.embed(texts[:8])
    row = []
    for n in BATCHES:
        _, s = timed(emb.embed, texts, batch_size=n)
        row.append(f"b{n}: {len(texts) / s:6.1f}/s")
    print("\n## text embedder (all-MiniLM-L6-v2) sentences/s  " + "  ".join(row))


def bench_video(files: dict[str, Path]) -> None:
    from plugins.video import VideoEncoder, VideoOptions
    from plugins.video.frames import sample_frames
    from plugins.vision import VisionEncoder, VisionOptions

    enc = VideoEncoder()
    enc.load()
    vision: VisionEncoder = enc._vision
    out, s = timed(enc.encode, [MediaItem(files["video"], "video/mp4")], VideoOptions())
    duration = out[0].metadata["duration_s"]
    print(
        f"\n## video ({duration:.0f} s, 4 scenes, speech) -> {duration / s:.1f} video s per second "
        f"({s:.1f} s); frames kept {out[0].metadata['frames_kept']} of "
        f"{out[0].metadata['frames_considered']} sampled at 1 fps"
    )
    budget = 600
    skip, t_skip = timed(sample_frames, files["video"], fps=1.0, max_frames=budget)
    uni, t_uni = timed(sample_frames, files["video"], fps=1.0, max_frames=budget, uniform=True)
    _, v_skip = timed(vision.encode_images, [f.image for f in skip.frames], VisionOptions())
    _, v_uni = timed(vision.encode_images, [f.image for f in uni.frames], VisionOptions())
    print(
        f"frame budget {budget}, 1 fps: uniform encodes {len(uni.frames)} frames "
        f"(decode {t_uni:.1f} s + vision {v_uni:.1f} s), scene skipping {len(skip.frames)} "
        f"(decode {t_skip:.1f} s + vision {v_skip:.1f} s): saving "
        f"{1 - len(skip.frames) / len(uni.frames):.0%} of frames, "
        f"{1 - (t_skip + v_skip) / (t_uni + v_uni):.0%} of frame time"
    )
    row = []
    for n in BATCHES:
        items = [MediaItem(files["clip"], "video/mp4")] * n
        _, s = timed(enc.encode, items, VideoOptions())
        row.append(f"b{n}: {n / s:5.2f}/s")
    print("  2 s clips (2 scenes + speech) items/s  " + "  ".join(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["audio", "vision", "ocr", "embedder", "video"])
    args = parser.parse_args()
    files = media()
    import torch

    print(f"torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}")
    runs = {
        "audio": lambda: bench_audio(files),
        "vision": lambda: bench_vision(files),
        "ocr": bench_ocr,
        "embedder": bench_embedder,
        "video": lambda: bench_video(files),
    }
    for name, run in runs.items():
        if args.only in (None, name):
            run()


if __name__ == "__main__":
    main()
