"""Encoding and embedding through Celery workers, with the exact shape of the in-process ones.

``CeleryDispatch.encode(tenant, items)`` puts each attachment's bytes in the blob store (unless
the item already carries a blob reference), sends one encode task per micro-batch to the
encoder's queue with the references and content hashes, and awaits the results on the event
loop (bounded by ``workers.result_timeout_s``). ``CeleryEmbedder`` does the same for text
embeddings on the ``cpu.text`` queue.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from assistant import metrics
from assistant.blobs import BlobRef, BlobStore
from assistant.config import Settings
from assistant.dispatch import heartbeats, names
from assistant.dispatch.batcher import Entry, MicroBatcher
from assistant.dispatch.celery_client import CeleryClient
from assistant.dispatch.payloads import (
    EmbedResponse,
    EncodeResponse,
    item_payload,
    result_from_payload,
    unpack_vectors,
)
from assistant.errors import AssistantError, EncoderFailed
from assistant.plugins.contract import Encoding, MediaItem
from assistant.plugins.registry import Registry


class CeleryDispatch:
    """The orchestrator's EncodeDispatch, through Celery workers."""

    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        blobs: BlobStore,
        client: CeleryClient | None = None,
        batch_window_ms: float | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.blobs = blobs
        self.client = client or CeleryClient(settings)
        self.window_override_ms = batch_window_ms
        self._batchers: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, MicroBatcher]
        ] = weakref.WeakKeyDictionary()

    def _batcher(self, encoder: str, options: dict[str, Any]) -> MicroBatcher:
        """One batcher per encoder and options: a batch shares one set of options."""
        per_loop = self._batchers.setdefault(asyncio.get_running_loop(), {})
        key = f"{encoder}|{json.dumps(options, sort_keys=True)}" if options else encoder
        batcher = per_loop.get(key)
        if batcher is None:
            enc = self.registry.encoders[encoder]
            queue = enc.queue

            async def send(batch: list[Entry]) -> list[Any]:
                raw = await self.client.call(
                    names.TASK_ENCODE,
                    {"encoder": encoder, "items": [e.payload for e in batch], "options": options},
                    queue,
                    sinks=[e.sink for e in batch],
                    callers=[e.carrier for e in batch],
                )
                out = EncodeResponse.model_validate(raw)
                metrics.TASK_DURATION.labels("encode", queue, encoder).observe(out.elapsed_s)
                metrics.TASK_BATCH.labels("encode", queue).observe(len(batch))
                return [result_from_payload(r) for r in out.results]

            batcher = per_loop[key] = MicroBatcher(
                send,
                enc.batch_size,
                self._window_s(enc.device.value),
                lambda: self.client.parallelism(queue),
            )
        return batcher

    def _window_s(self, device: str) -> float:
        """The batching window of a device (workers.batch_window_ms_by_device, else the default)."""
        if self.window_override_ms is not None:
            return self.window_override_ms / 1000.0
        workers = self.settings.workers
        by_device = {str(d): ms for d, ms in workers.batch_window_ms_by_device.items()}
        return by_device.get(device, workers.batch_window_ms) / 1000.0

    async def _reference(self, tenant: str, item: MediaItem) -> BlobRef:
        blob = item.metadata.get("blob")
        if isinstance(blob, dict):
            return BlobRef.from_dict(blob)
        return await asyncio.to_thread(
            lambda: self.blobs.put_bytes(tenant, item.path.read_bytes(), item.path.suffix)
        )

    async def encode(
        self, tenant: str, items: Sequence[MediaItem], options: Mapping[str, Any] | None = None
    ) -> list[Encoding | BaseException]:
        results: list[Encoding | BaseException | None] = [None] * len(items)
        waiting: list[tuple[int, asyncio.Future[Any]]] = []
        for index, item in enumerate(items):
            try:
                encoder = self.registry.encoder_for(item.media_type)
                ref = await self._reference(tenant, item)
            except AssistantError as exc:
                results[index] = exc
                continue
            except OSError as exc:
                results[index] = EncoderFailed(f"could not stage {item.display_name}: {exc}")
                continue
            missing = self.client.unserved(encoder.queue, "send the file as a job")
            if missing is not None:
                results[index] = missing
                continue
            payload = item_payload(ref, item.media_type, item.display_name)
            [future] = self._batcher(encoder.name, dict(options or {})).submit([payload])
            waiting.append((index, future))
        try:
            outcomes = await asyncio.gather(*(f for _, f in waiting), return_exceptions=True)
        except asyncio.CancelledError:
            for _, f in waiting:
                f.cancel()
            raise
        for (index, _), outcome in zip(waiting, outcomes, strict=True):
            results[index] = outcome
        return [r if r is not None else EncoderFailed("not encoded") for r in results]

    async def revoke(self, task_ids: Sequence[str]) -> None:
        await self.client.revoke(task_ids, terminate=True)

    async def ready(self) -> None:
        await asyncio.to_thread(self.client.check_workers)

    async def refresh_metrics(self) -> None:
        queues = names.all_queues(self.registry)
        await asyncio.to_thread(heartbeats.refresh_queue_gauges, self.client.url, queues)

    async def aclose(self) -> None:
        await self.client.aclose()


class CeleryEmbedder:
    """Text embeddings on the ``cpu.text`` workers, micro-batched like the encoders."""

    def __init__(
        self,
        settings: Settings,
        client: CeleryClient | None = None,
        batch_window_ms: float | None = None,
        max_batch: int | None = None,
    ) -> None:
        self.client = client or CeleryClient(settings)
        window = settings.workers.batch_window_ms if batch_window_ms is None else batch_window_ms
        self.window_s = window / 1000.0
        self.max_batch = max_batch or settings.retrieval.embedding_batch_size
        self._batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, MicroBatcher] = (
            weakref.WeakKeyDictionary()
        )

    def _batcher(self) -> MicroBatcher:
        loop = asyncio.get_running_loop()
        batcher = self._batchers.get(loop)
        if batcher is None:
            queue = names.TEXT_QUEUE

            async def send(batch: list[Entry]) -> list[Any]:
                raw = await self.client.call(
                    names.TASK_EMBED,
                    {"texts": [e.payload for e in batch]},
                    queue,
                    sinks=[e.sink for e in batch],
                    callers=[e.carrier for e in batch],
                )
                out = EmbedResponse.model_validate(raw)
                metrics.TASK_DURATION.labels("embed", queue, "text").observe(out.elapsed_s)
                metrics.TASK_BATCH.labels("embed", queue).observe(len(batch))
                return list(unpack_vectors(out.vectors))

            batcher = self._batchers[loop] = MicroBatcher(
                send, self.max_batch, self.window_s, lambda: self.client.parallelism(queue)
            )
        return batcher

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        missing = self.client.unserved(names.TEXT_QUEUE, "ingest the file as a job")
        if missing is not None:
            raise missing
        futures = self._batcher().submit(list(texts))
        return list(await asyncio.gather(*futures))
