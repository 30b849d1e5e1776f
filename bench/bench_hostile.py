"""What hostile input costs the API process (not a timed test).

    .venv/bin/python bench/bench_hostile.py

1. **Documents**: a 124 KB Markdown file of deep ``>`` quoting and bracket nesting (every
   character a token: the chunks are all full 256-token windows) and prose of the same size,
   chunked and embedded at the model batch of the old default (64, the baseline) and the new
   one (``retrieval.embedding_model_batch`` = 16): seconds and peak memory above the loaded model.
2. **Media**: 40 hostile files (truncated and corrupt PNG/JPEG/MP4/WAV, 20-megapixel PNGs, a
   PDF) checked in the calling process (``validate_media``: the baseline, what the API did) and
   through the decoder sandbox (``DecoderPool``, what it does): the caller's resident memory
   growth and the time per file.

Each measurement runs in a fresh process, so peaks do not hide each other.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DOC_BYTES = 124 * 1024


def hostile_markdown() -> str:
    line = "> " * 400 + "[" * 300 + "x" + "]" * 300 + "\n"
    return (line * (DOC_BYTES // len(line) + 1))[:DOC_BYTES]


def prose() -> str:
    text = (ROOT / "examples" / "knowledge").glob("*.md")
    body = "\n\n".join(p.read_text() for p in sorted(text))
    return (body * (DOC_BYTES // len(body) + 1))[:DOC_BYTES]


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def embed_case(kind: str, batch: int) -> dict[str, float]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from assistant.embeddings import TextEmbedder

    embedder = TextEmbedder(batch_size=batch)
    embedder.embed(["warm up"])
    text = hostile_markdown() if kind == "hostile" else prose()
    chunks = RecursiveCharacterTextSplitter(chunk_size=800, chunk_overlap=100).split_text(text)
    before = _peak_mb()
    start = time.perf_counter()
    embedder.embed(chunks)
    return {
        "chunks": len(chunks),
        "seconds": time.perf_counter() - start,
        "peak_mb": _peak_mb() - before,
    }


def hostile_media(folder: Path) -> list[tuple[Path, str]]:
    from PIL import Image

    from tests.support import media as mf

    photo = mf.save_image(mf.photo("coffee"), folder / "coffee.png")
    jpeg = folder / "coffee.jpg"
    mf.photo("coffee").save(jpeg, format="JPEG")
    clip = folder / "clip.mp4"
    clip.write_bytes(mf.mp4_bytes(folder))
    wav = folder / "tone.wav"
    wav.write_bytes(mf.wav_bytes(2.0))
    files: list[tuple[Path, str]] = []
    for i, (src, mime) in enumerate(
        [(photo, "image/png"), (jpeg, "image/jpeg"), (clip, "video/mp4"), (wav, "audio/wav")]
    ):
        for j, fraction in enumerate((0.2, 0.5, 0.8)):
            files.append((mf.truncated(src, folder / f"cut{i}{j}{src.suffix}", fraction), mime))
        for j, keep in enumerate((16, 64, 256)):
            files.append((mf.corrupted(src, folder / f"bad{i}{j}{src.suffix}", keep), mime))
    for i in range(14):
        big = folder / f"big{i}.png"
        Image.new("RGB", (5000, 4000), (i * 10, 100, 30)).save(big, compress_level=1)
        files.append((big, "image/png"))
    pdf = folder / "m.pdf"
    pdf.write_bytes(mf.pdf_bytes())
    files.append((pdf, "application/pdf"))
    return files


def media_case(where: str) -> dict[str, float]:
    from assistant.config import MediaLimits
    from assistant.errors import AssistantError
    from assistant.media import validate_media
    from assistant.media.sandbox import DecoderPool

    with tempfile.TemporaryDirectory() as tmp:
        files = hostile_media(Path(tmp))
        pool = DecoderPool(MediaLimits()) if where == "sandbox" else None
        if pool is not None:
            pool.warm()
        before = _rss_mb()
        refused = 0
        start = time.perf_counter()
        for path, mime in files:
            try:
                if pool is not None:
                    pool.validate(path, mime, name=path.name)
                else:
                    validate_media(path, mime, name=path.name)
            except AssistantError:
                refused += 1
        seconds = time.perf_counter() - start
        grown = _rss_mb() - before
        if pool is not None:
            pool.close()
    return {"files": len(files), "refused": refused, "ms_per_file": seconds / len(files) * 1000,
            "rss_growth_mb": grown}  # fmt: skip


def run(case: list[str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--case", *case],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    if sys.argv[1:2] == ["--case"]:
        kind, arg = sys.argv[2], sys.argv[3]
        result = embed_case(arg, int(sys.argv[4])) if kind == "embed" else media_case(arg)
        print(json.dumps(result))
        return
    print("documents: 124 KB, chunked at 800 characters, embedded by all-MiniLM-L6-v2")
    print(f"{'text':<8} {'batch':>5} {'chunks':>6} {'seconds':>8} {'peak MB':>8}")
    figures: dict[tuple[str, int], dict[str, float]] = {}
    for kind in ("hostile", "prose"):
        for batch in (64, 16):
            r = figures[kind, batch] = run(["embed", kind, str(batch)])
            print(
                f"{kind:<8} {batch:>5} {r['chunks']:>6.0f} {r['seconds']:>8.2f} {r['peak_mb']:>8.0f}"
            )
    for kind in ("hostile", "prose"):
        old, new = figures[kind, 64], figures[kind, 16]
        print(
            f"{kind}: batch 16 / batch 64: time x{new['seconds'] / old['seconds']:.2f}, "
            f"peak memory x{new['peak_mb'] / max(old['peak_mb'], 1):.2f}"
        )
    print("\nhostile media: the caller's (the API's) resident memory while checking them")
    print(f"{'where':<12} {'files':>5} {'refused':>7} {'ms/file':>8} {'RSS growth MB':>14}")
    media = {where: run(["media", where]) for where in ("in-process", "sandbox")}
    for where, r in media.items():
        print(
            f"{where:<12} {r['files']:>5.0f} {r['refused']:>7.0f} {r['ms_per_file']:>8.1f} "
            f"{r['rss_growth_mb']:>14.1f}"
        )
    base, box = media["in-process"], media["sandbox"]
    print(
        f"sandbox / in-process: RSS growth {box['rss_growth_mb']:.1f} vs "
        f"{base['rss_growth_mb']:.1f} MB, time per file x{box['ms_per_file'] / base['ms_per_file']:.2f}"
    )


if __name__ == "__main__":
    main()
