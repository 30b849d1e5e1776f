"""Running encoders on attachments, in this process.

``InProcessDispatch`` satisfies ``EncodeDispatch``: one result or exception per item, in
order. Items are grouped by encoder and batched; when a batch fails, its items are retried one
by one so a single bad file cannot sink the others. ``LoadedEncoders`` and ``encode_batch`` are
also what a worker process runs (workers/encode.py), so both paths encode the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from assistant.embeddings import TextEmbedder
from assistant.errors import AssistantError, EncoderFailed, ServiceUnavailable
from assistant.plugins.contract import Encoder, Encoding, MediaItem
from assistant.plugins.registry import Registry

log = logging.getLogger(__name__)


class LoadedEncoders:
    """Loads each encoder once per process, on first use, thread-safely."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._loaded: set[str] = set()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, name: str) -> Encoder[Any]:
        encoder = self.registry.encoders[name]
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._loaded:
                encoder.load()
                self._loaded.add(name)
        return encoder


def encode_batch(
    encoder: Encoder[Any], items: Sequence[MediaItem], options: dict[str, Any] | None = None
) -> list[Encoding | BaseException]:
    """Encode a batch; isolate failures item by item. Never raises (but for bad options).

    A GPU out-of-memory error on a batch splits it in halves and tries again, down to single
    items; one item that still does not fit is answered with a 503 for that item, so the
    message is retried later rather than the worker dying or the batch being lost.
    """
    if options and "render" in options and not encoder.renders:
        # model-ready copies are asked of every attachment; this encoder makes none, so the
        # model gets its findings as text
        options = {k: v for k, v in options.items() if k != "render"}
    return _encode(encoder, list(items), encoder.parse_options(options))


def _encode(
    encoder: Encoder[Any], items: list[MediaItem], parsed: Any
) -> list[Encoding | BaseException]:
    try:
        results = encoder.encode(items, parsed)
        if len(results) != len(items):
            raise EncoderFailed(
                f"encoder {encoder.name} returned {len(results)} results for {len(items)} items"
            )
        return list(results)
    except Exception as exc:
        if is_out_of_memory(exc):
            free_gpu_memory()
            if len(items) > 1:
                half = len(items) // 2
                log.warning(
                    "encoder %s ran out of GPU memory on %s items; splitting the batch",
                    encoder.name,
                    len(items),
                )
                return _encode(encoder, items[:half], parsed) + _encode(
                    encoder, items[half:], parsed
                )
            return [
                ServiceUnavailable(
                    f"{encoder.name} ran out of GPU memory on {items[0].display_name}; "
                    "try again later"
                )
            ]
        if len(items) == 1:
            return [_as_error(encoder, items[0], exc)]
    out: list[Encoding | BaseException] = []
    for item in items:
        out.extend(_encode(encoder, [item], parsed))
    return out


def is_out_of_memory(exc: BaseException) -> bool:
    """torch.cuda.OutOfMemoryError, or a CUDA/CTranslate2 allocator error saying so."""
    name = type(exc).__name__
    text = str(exc).lower()
    return name == "OutOfMemoryError" or "out of memory" in text


def free_gpu_memory() -> None:
    """Hand cached blocks back to the allocator (only when torch is already loaded)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        with contextlib.suppress(Exception):
            if torch.cuda.is_initialized():
                torch.cuda.empty_cache()


def _as_error(encoder: Encoder[Any], item: MediaItem, exc: BaseException) -> BaseException:
    if isinstance(exc, AssistantError):
        return exc
    log.exception("encoder %s failed on %s", encoder.name, item.display_name)
    return EncoderFailed(f"{encoder.name} could not process {item.display_name}: {exc}")


class InProcessDispatch:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.encoders = LoadedEncoders(registry)

    async def encode(
        self,
        tenant: str,  # noqa: ARG002 - the EncodeDispatch protocol
        items: Sequence[MediaItem],
        options: Mapping[str, Any] | None = None,
    ) -> list[Encoding | BaseException]:
        results: list[Encoding | BaseException | None] = [None] * len(items)
        groups: dict[str, list[int]] = {}
        for index, item in enumerate(items):
            try:
                name = self.registry.encoder_for(item.media_type).name
            except AssistantError as exc:
                results[index] = exc
                continue
            groups.setdefault(name, []).append(index)

        async def run(name: str, indexes: list[int]) -> None:
            def work() -> list[Encoding | BaseException]:
                encoder = self.encoders.get(name)
                return encode_batch(encoder, [items[i] for i in indexes], dict(options or {}))

            try:
                out = await asyncio.to_thread(work)
            except Exception as exc:  # loading failed: every item of this encoder fails
                out = [EncoderFailed(f"encoder {name} is unavailable: {exc}")] * len(indexes)
            for i, result in zip(indexes, out, strict=True):
                results[i] = result

        await asyncio.gather(*(run(n, ix) for n, ix in groups.items()))
        return [r if r is not None else EncoderFailed("not encoded") for r in results]

    async def revoke(self, task_ids: Sequence[str]) -> None:
        """Nothing to revoke: in-process work is cancelled with its coroutine."""

    async def ready(self) -> None:
        """Always ready: the encoders load on first use, in this process."""

    async def refresh_metrics(self) -> None:
        """No queues to measure."""

    async def aclose(self) -> None:
        """Nothing to close."""


class LocalEmbedder:
    """The ``Embedder`` protocol over this process's text embedder (in a thread)."""

    def __init__(self, embedder: TextEmbedder) -> None:
        self.embedder = embedder

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self.embedder.embed, list(texts))
