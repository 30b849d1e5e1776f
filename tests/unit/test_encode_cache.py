"""The encode cache: the same bytes, encoder and options are encoded once per tenant."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

from assistant.dispatch.cache import CachedDispatch, EncodingCache, SharedEncodings
from assistant.dispatch.local import InProcessDispatch
from assistant.errors import UnprocessableMedia
from assistant.media import IMAGE_TYPES
from assistant.plugins import Device, Encoder, Encoding, MediaItem, Modality, NoOptions, hookimpl
from assistant.plugins.registry import Registry
from tests.support.procs import free_port


class CountingImages(Encoder[NoOptions]):
    """Counts what it really encodes; bytes starting with 'bad' fail."""

    name = "counting-image"
    version = "1"
    modality = Modality.IMAGE
    media_types = IMAGE_TYPES
    device = Device.CPU
    default_batch_size = 8

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def encode(self, items: Sequence[MediaItem], options: NoOptions) -> list[Encoding]:  # noqa: ARG002
        out = []
        for item in items:
            data = item.path.read_bytes()
            self.seen.append(data)
            if data.startswith(b"bad"):
                raise UnprocessableMedia(f"{item.display_name} is bad")
            out.append(self.encoding(f"{len(data)} bytes: {data[:8]!r}"))
        return out


def _setup(shared: SharedEncodings | None = None) -> tuple[CachedDispatch, CountingImages]:
    encoder = CountingImages()

    class Plugin:
        @hookimpl
        def register_encoders(self, register: Callable[[Encoder[NoOptions]], None]) -> None:
            register(encoder)

    registry = Registry()
    registry.add_plugin(Plugin(), "counting")
    return CachedDispatch(InProcessDispatch(registry), registry, 1 << 20, shared), encoder


def _item(folder: Path, name: str, data: bytes) -> MediaItem:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return MediaItem(path, "image/png", name=name)


def test_same_bytes_are_encoded_once_per_tenant_and_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatch, encoder = _setup()
    first = _item(tmp_path, "a.png", b"photo one")
    again = _item(tmp_path / "next-turn", "a.png", b"photo one")  # sent again, another file
    other = _item(tmp_path, "b.png", b"photo two")

    async def run() -> None:
        [one, _] = await dispatch.encode("t1", [first, other])
        [cached] = await dispatch.encode("t1", [again])
        assert isinstance(one, Encoding) and isinstance(cached, Encoding)
        assert cached.text == one.text and cached is not one
        assert encoder.seen == [b"photo one", b"photo two"]
        cached.metadata["changed"] = True  # a caller's change does not reach the cache
        [fresh] = await dispatch.encode("t1", [again])
        assert isinstance(fresh, Encoding) and "changed" not in fresh.metadata
        await dispatch.encode("t2", [again])  # another tenant: encoded for it
        assert len(encoder.seen) == 3
        await dispatch.encode("t1", [_item(tmp_path, "renamed.png", b"photo one")])
        assert len(encoder.seen) == 4  # the name is part of what an encoder may report
        # other options are another key: they reach the encoder (which rejects these)
        [rejected] = await dispatch.encode("t1", [again], {"detail": "x"})
        assert isinstance(rejected, Exception)
        monkeypatch.setattr(CountingImages, "version", "2")  # upgraded: the old one's is stale
        [upgraded] = await dispatch.encode("t1", [again])
        assert isinstance(upgraded, Encoding) and upgraded.version == "2"
        assert len(encoder.seen) == 5

    asyncio.run(run())


def test_failures_are_not_kept(tmp_path: Path) -> None:
    dispatch, encoder = _setup()
    bad = _item(tmp_path, "bad.png", b"bad bytes")

    async def run() -> None:
        for _ in range(2):
            [outcome] = await dispatch.encode("t1", [bad])
            assert isinstance(outcome, UnprocessableMedia)

    asyncio.run(run())
    assert len(encoder.seen) == 2


def test_lru_stays_within_its_bytes() -> None:
    cache = EncodingCache(max_bytes=4000)
    for n in range(40):
        enc = Encoding(encoder="e", version="1", modality=Modality.IMAGE, text=f"{n:04d}" * 20)
        cache.put(f"k{n}", enc.model_dump_json())
        cache.get("k0")  # used often: kept
    assert cache.get("k0") is not None and cache.get("k39") is not None
    assert cache.get("k1") is None
    assert 1 < len(cache) < 40


def test_an_unreachable_shared_cache_is_a_miss_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis away: items are encoded (and kept in this process) as if there were no shared
    tier, with one warning, and Redis is not asked again at once."""
    shared = SharedEncodings(f"redis://127.0.0.1:{free_port()}/0", ttl_s=60)
    dispatch, encoder = _setup(shared)
    photo = _item(tmp_path, "a.png", b"photo one")

    async def run() -> None:
        for _ in range(3):
            [outcome] = await dispatch.encode("t1", [photo])
            assert isinstance(outcome, Encoding)

    with caplog.at_level(logging.WARNING, logger="assistant.dispatch.cache"):
        asyncio.run(run())
    assert encoder.seen == [b"photo one"]  # the local tier answered the second and third
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "shared encode cache is skipped" in warnings[0], warnings


class _StaleShared(SharedEncodings):
    """A shared tier holding an entry another version wrote (no Redis needed to hand it out)."""

    def __init__(self) -> None:
        super().__init__("redis://127.0.0.1:1/0", ttl_s=60)
        self.written: dict[str, str] = {}

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        return ['{"encoder": "counting-image", "unknown_shape": true}' for _ in keys]

    def put_many(self, entries: Mapping[str, str]) -> None:
        self.written.update(entries)


def test_a_shared_entry_that_does_not_read_as_an_encoding_is_encoded_again(
    tmp_path: Path,
) -> None:
    shared = _StaleShared()
    dispatch, encoder = _setup(shared)

    async def run() -> None:
        [outcome] = await dispatch.encode("t1", [_item(tmp_path, "a.png", b"photo one")])
        assert isinstance(outcome, Encoding)

    asyncio.run(run())
    assert encoder.seen == [b"photo one"]
    [written] = shared.written.values()  # and the fresh encoding replaces it
    assert Encoding.model_validate_json(written).text.startswith("9 bytes")
