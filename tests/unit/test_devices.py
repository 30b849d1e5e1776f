"""Where encoders run: the configured device per encoder instance decides, the queue follows;
a GPU worker's memory budget; a GPU out-of-memory error splits the batch instead of failing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from assistant.dispatch import names
from assistant.dispatch.local import encode_batch
from assistant.errors import PluginError, ServiceUnavailable
from assistant.plugins import Device, Encoder, Encoding, MediaItem, Modality, NoOptions, hookimpl
from assistant.plugins.registry import Registry, build_registry
from workers import gpu

BUILT_INS = ["whisper", "vision", "video", "documents"]


def test_a_gpu_configuration_puts_the_gpu_capable_encoders_on_cuda_queues() -> None:
    registry = build_registry(allow=BUILT_INS, device="cuda")
    queues = {name: e.queue for name, e in registry.encoders.items()}
    assert queues == {
        "whisper": "cuda.audio",
        "vision": "cuda.image",
        "video": "cuda.video",
        "document-text": "cpu.document",  # runs on the CPU only: it stays there
    }
    assert names.all_queues(registry, "cuda") == ["cuda.audio", "cuda.image", "cuda.video"]
    assert names.all_queues(registry, "cpu") == ["cpu.document", "cpu.text"]


def test_per_encoder_devices_make_a_mixed_fleet() -> None:
    registry = build_registry(allow=BUILT_INS, devices={"whisper": "cuda"})
    assert registry.encoder_for("audio/wav").queue == "cuda.audio"
    assert registry.encoder_for("image/png").queue == "cpu.image"
    described = {
        e["name"]: (e["device"], e["queue"], e["devices"])
        for p in registry.describe()["plugins"]  # type: ignore[attr-defined]
        for e in p["encoders"]
    }
    assert described["whisper"] == ("cuda", "cuda.audio", ["cpu", "cuda"])
    assert described["document-text"] == ("cpu", "cpu.document", ["cpu"])


def test_a_device_an_encoder_cannot_use_is_refused_naming_it() -> None:
    with pytest.raises(PluginError, match=r"'document-text' is configured for cuda.*cpu only"):
        build_registry(allow=BUILT_INS, devices={"document-text": "cuda"})


def test_batch_sizes_are_declared_per_device() -> None:
    assert build_registry(allow=["vision"]).encoders["vision"].batch_size == 8
    assert build_registry(allow=["vision"], device="cuda").encoders["vision"].batch_size == 64


class Sized(Encoder[NoOptions]):
    modality = Modality.IMAGE
    devices = frozenset({Device.CPU, Device.CUDA})

    def encode(self, items: Sequence[MediaItem], options: NoOptions) -> list[Encoding]:  # noqa: ARG002 - the Encoder interface
        return [self.encoding(i.display_name) for i in items]


def _sized(name: str, modality: Modality, mb: int) -> Encoder[Any]:
    attrs = {"name": name, "modality": modality, "gpu_memory_mb": mb}
    attrs["media_types"] = frozenset({f"application/x-{name}"})
    return type(name.title(), (Sized,), attrs)()


def _registry(*encoders: Encoder[Any], device: str = "cuda") -> Registry:
    module = ModuleType("sized")

    @hookimpl
    def register_encoders(register: Callable[[Encoder[Any]], None]) -> None:
        for encoder in encoders:
            register(encoder)

    module.register_encoders = register_encoders  # type: ignore[attr-defined]
    registry = Registry(device)
    registry.add_plugin(module, "sized")
    return registry


def test_a_gpu_worker_loads_only_what_fits_its_budget_and_says_what_it_skipped() -> None:
    registry = _registry(
        _sized("big", Modality.VIDEO, 6000),
        _sized("mid", Modality.IMAGE, 3000),
        _sized("small", Modality.AUDIO, 500),
    )
    queues = names.all_queues(registry, "cuda")
    assert queues == ["cuda.audio", "cuda.image", "cuda.video"]
    chosen = gpu.plan(registry, queues, budget_mb=4000)
    assert chosen.hosted == ["mid", "small"]
    assert set(chosen.skipped) == {"big"} and "6000 MB" in chosen.skipped["big"]
    assert chosen.queues == ["cuda.audio", "cuda.image"]  # nothing left to serve cuda.video
    assert gpu.plan(registry, queues, budget_mb=0).hosted == ["big", "mid", "small"]


class FakeOutOfMemoryError(RuntimeError):
    """What torch raises when a batch does not fit (torch.cuda.OutOfMemoryError)."""


FakeOutOfMemoryError.__name__ = "OutOfMemoryError"


class Greedy(Sized):
    name = "greedy"
    media_types = frozenset({"application/x-greedy"})

    def __init__(self, fits: int) -> None:
        self.fits = fits
        self.calls: list[int] = []

    def encode(self, items: Sequence[MediaItem], options: NoOptions) -> list[Encoding]:
        self.calls.append(len(items))
        if len(items) > self.fits:
            raise FakeOutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().encode(items, options)


def test_an_out_of_memory_batch_is_split_and_every_item_is_encoded(tmp_path: Path) -> None:
    items = [
        MediaItem(tmp_path / f"{i}.bin", "application/x-greedy", f"item-{i}") for i in range(8)
    ]
    encoder = Greedy(fits=2)
    results = encode_batch(encoder, items)
    assert [r.text for r in results if isinstance(r, Encoding)] == [f"item-{i}" for i in range(8)]
    assert encoder.calls == [8, 4, 2, 2, 4, 2, 2]


def test_one_item_that_never_fits_is_a_503_for_that_item_only(tmp_path: Path) -> None:
    items = [
        MediaItem(tmp_path / f"{i}.bin", "application/x-greedy", f"item-{i}") for i in range(2)
    ]
    results = encode_batch(Greedy(fits=0), items)
    assert all(isinstance(r, ServiceUnavailable) for r in results)
    assert "ran out of GPU memory on item-0" in str(results[0])
