"""Answer quality with a capable model, with and without raw media (not a timed test).

    .venv/bin/python bench/bench_capable.py --base-url http://gpu-box:8000/v1 --model Qwen2.5-VL-7B
    .venv/bin/python bench/bench_capable.py --dry-run     # no model here: what would be sent

A fixed set of image, audio and video questions (media made offline: rendered signs, packaged
photos, espeak-ng speech, PyAV videos) goes through the project itself (real encoders in this
process, the orchestrator, ``ChatOpenAI``) to an OpenAI-compatible server, twice: with
``llm.input_modalities=["text"]`` (the findings only: labels, OCR, transcript) and with the raw
media the model takes (``--modalities text,image[,audio]``). An answer is right when it holds
every expected word. Accuracy is printed side by side; the baseline is the text-only run.

``--dry-run`` starts the project's fake upstream (tests/support/upstream.py) instead: no
accuracy, but the cost of the raw media measured here: request bytes, image parts and the time
from question to upstream request, per variant.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from assistant.config import Settings  # noqa: E402
from assistant.orchestrator import ChatInput, ChatTurn  # noqa: E402
from assistant.services import Services  # noqa: E402
from tests.support import media as mf  # noqa: E402


@dataclass
class Case:
    name: str
    question: str
    expected: tuple[str, ...]  # every one must appear in the answer (case-insensitive)


def _cases(folder: Path) -> list[tuple[Case, Path, str]]:
    """(case, file, media type): the questions and the media they are about."""
    out: list[tuple[Case, Path, str]] = []

    def image(name: str, img: Any, question: str, *expected: str) -> None:
        path = folder / f"{name}.png"
        mf.save_image(img, path)
        out.append((Case(name, question, expected), path, "image/png"))

    image("coffee", mf.photo("coffee"), "What drink is in this picture?", "coffee")
    image("cat", mf.photo("chelsea"), "What animal is this?", "cat")
    image("rocket", mf.photo("rocket"), "What is being launched here?", "rocket")
    image("astronaut", mf.photo("astronaut"), "What is the person's job?", "astronaut")
    image("sign", mf.text_image("OPEN SUNDAY 9AM"), "When does it open on Sunday?", "9")
    image("colour", mf.text_image("STOP"), "What word is written here?", "stop")
    speech = [
        ("budget", "The marketing budget for next year is twelve thousand euros.",
         "How much is the marketing budget?", ("twelve",)),
        ("holiday", "Our summer holiday will be in Portugal by the sea.",
         "Where is the summer holiday?", ("portugal",)),
    ]  # fmt: skip
    for name, said, question, expected in speech:
        path = mf.speech_wav(folder / f"{name}.wav", said)
        out.append((Case(name, question, expected), path, "audio/wav"))
    track = mf.speech_wav(folder / "_track.wav", "The new office opens in Berlin next spring.")
    video = mf.make_video(
        folder / "update.mp4",
        [(mf.photo("astronaut"), 3.0), (mf.text_image("ROADMAP"), 5.0)],
        audio=track,
        audio_start=3.0,
    )
    out.append(
        (Case("video-said", "Where does the new office open?", ("berlin",)), video, "video/mp4")
    )
    out.append(
        (Case("video-seen", "What word is shown on the slide?", ("roadmap",)), video, "video/mp4")
    )
    return out


async def _run(
    settings: Settings, cases: list[tuple[Case, Path, str]]
) -> list[tuple[Case, str, float]]:
    services = Services.build(settings)
    results = []
    try:
        for case, path, media_type in cases:
            item = await services.attachments.stage(
                "bench", path.read_bytes(), media_type, path.name
            )
            chat = ChatInput("bench", [ChatTurn("user", case.question)], attachments=[item])
            started = time.perf_counter()
            answer = await services.orchestrator.answer(chat)
            results.append((case, answer.text, time.perf_counter() - started))
    finally:
        await services.aclose()
    return results


def _settings(root: Path, base_url: str, model: str, key: str, modalities: list[str]) -> Settings:
    return Settings(
        _env_file=None,
        storage={"data_dir": root},
        llm={
            "provider": "openai",
            "base_url": base_url,
            "model_name": model,
            "api_key": key,
            "input_modalities": modalities,
            "max_tokens": 128,
        },
        plugins={"allow": ["documents", "vision", "whisper", "video"]},
        workers={"in_process": True},
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-url", default="")
    parser.add_argument("--model", default="capable-model")
    parser.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", ""))
    parser.add_argument("--modalities", default="text,image", help="the raw variant's list")
    parser.add_argument("--dry-run", action="store_true", help="the fake upstream: costs only")
    args = parser.parse_args()
    if not args.base_url and not args.dry_run:
        parser.error("give --base-url of an OpenAI-compatible server, or --dry-run")
    raw = [m.strip() for m in args.modalities.split(",") if m.strip()]
    variants = {"findings only": ["text"], "raw media": raw}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "media"
        folder.mkdir()
        cases = _cases(folder)
        fake = server = None
        if args.dry_run:
            from tests.support.bots import ServerThread
            from tests.support.upstream import FakeUpstream

            fake = FakeUpstream()
            server = ServerThread(fake.app()).__enter__()
            args.base_url = f"{server.url}/v1"
        table: dict[str, list[tuple[Case, str, float]]] = {}
        sizes: dict[str, list[dict[str, Any]]] = {}

        async def every_variant() -> None:  # one event loop: LangChain caches its HTTP client
            for label, modalities in variants.items():
                root = Path(tmp) / label.replace(" ", "-")
                settings = _settings(root, args.base_url, args.model, args.api_key, modalities)
                if fake is not None:
                    fake.requests.clear()
                table[label] = await _run(settings, cases)
                if fake is not None:
                    sizes[label] = list(fake.requests)

        asyncio.run(every_variant())
        if server is not None:
            server.__exit__(None, None, None)
    print(f"{len(cases)} questions; model {args.model} at {args.base_url}\n")
    if args.dry_run:
        print(
            f"{'variant':<16}{'request KB p50':>16}{'image parts':>13}{'audio parts':>13}{'s/question p50':>16}"
        )
        for label in variants:
            kb = [len(json.dumps(r)) / 1024 for r in sizes[label]]
            parts = [p for r in sizes[label] for p in _content(r)]
            images = sum(p.get("type") == "image_url" for p in parts)
            audio = sum(p.get("type") == "input_audio" for p in parts)
            secs = statistics.median(t for _, _, t in table[label])
            print(f"{label:<16}{statistics.median(kb):>16.1f}{images:>13}{audio:>13}{secs:>16.2f}")
        return
    print(f"{'question':<14}" + "".join(f"{label:>18}" for label in variants))
    right = dict.fromkeys(variants, 0)
    for n, (case, _, _) in enumerate(cases):
        row = f"{case.name:<14}"
        for label in variants:
            text = table[label][n][1].lower()
            ok = all(word in text for word in case.expected)
            right[label] += ok
            row += f"{'right' if ok else 'wrong':>18}"
        print(row)
    base = max(right["findings only"], 1)
    print(f"{'accuracy':<14}" + "".join(f"{right[v]:>15}/{len(cases)}" for v in variants))
    print(f"ratio raw / findings only: {right['raw media'] / base:.2f}")


def _content(request: dict[str, Any]) -> list[dict[str, Any]]:
    content = request["messages"][-1]["content"]
    return content if isinstance(content, list) else []


if __name__ == "__main__":
    main()
