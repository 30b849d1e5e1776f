"""Encode results on the wire (not a timed test): bytes and milliseconds per result.

    .venv/bin/python bench/bench_payloads.py

An encoding's vectors travel from the worker to the API through Redis inside Celery's JSON.
Baseline, in the same run: the same result with its vectors as JSON float lists (what went over
before). Each round trip is what the two sides do: ``ok_result`` and ``model_dump`` plus
``json.dumps`` in the worker, ``json.loads`` plus ``result_from_payload`` in the API.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.dispatch.payloads import ItemResult, ok_result, result_from_payload
from assistant.errors import AssistantError
from assistant.plugins.contract import Encoding, Modality, Segment

RNG = np.random.default_rng(0)


def vector(dim: int = 512) -> list[float]:
    return RNG.standard_normal(dim).astype("float32").tolist()


def image() -> Encoding:
    return Encoding(
        encoder="vision", version="1", modality=Modality.IMAGE, text="a street", vector=vector()
    )


def video(frames: int = 20) -> Encoding:
    segments = [
        Segment(kind="frame", text=f"frame {i}", start=3.0 * i, end=3.0 * i + 3, vector=vector())
        for i in range(frames)
    ]
    return Encoding(
        encoder="video",
        version="1",
        modality=Modality.VIDEO,
        text="a walk",
        segments=segments,
        vector=vector(),
    )


def floats_wire(encoding: Encoding) -> str:
    return json.dumps(ItemResult(ok=True, encoding=encoding).model_dump(mode="json"))


def floats_read(wire: str) -> Encoding | None:
    return ItemResult.model_validate(json.loads(wire)).encoding


def packed_wire(encoding: Encoding) -> str:
    return json.dumps(ok_result(encoding).model_dump(mode="json"))


def packed_read(wire: str) -> Encoding | AssistantError:
    return result_from_payload(json.loads(wire))


Way = tuple[Callable[[Encoding], str], Callable[[str], object]]
FLOATS: Way = (floats_wire, floats_read)
PACKED: Way = (packed_wire, packed_read)


def measure(way: Way, encoding: Encoding, n: int = 200) -> tuple[int, float]:
    """Bytes on the wire and the median milliseconds of writing and reading it back."""
    write, read = way
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        back = read(write(encoding))
        times.append((time.perf_counter() - t0) * 1000)
        assert back == encoding
    return len(write(encoding)), statistics.median(times)


def main() -> None:
    print("| result | JSON floats | packed | ratio |")
    print("|---|---|---|---|")
    for label, encoding in (("image, 1 vector", image()), ("video, 20 frame vectors", video())):
        (b0, t0), (b1, t1) = measure(FLOATS, encoding), measure(PACKED, encoding)
        print(f"| {label} | {b0 / 1024:.1f} KB, {t0:.2f} ms | {b1 / 1024:.1f} KB, {t1:.2f} ms "
              f"| x{b1 / b0:.2f} bytes, x{t1 / t0:.2f} time |")  # fmt: skip


if __name__ == "__main__":
    main()
