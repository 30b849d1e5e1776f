"""The same bytes are encoded once: an LRU of encodings by content hash, in front of a dispatch.

A chat front end sends the whole conversation again on every turn (Open WebUI, the OpenAI SDK's
clients), images included: without this, each turn of a conversation about one photo would
classify and OCR it again. The key is the tenant (no tenant learns what another one sent), the
encoder's name and version, the options, the item's name (an encoder may write it into what it
finds) and the SHA-256 of the bytes. Failures are not kept (a
worker that was away must get another try), nor encodings with renditions (model-ready copies:
large, and staged blobs that are swept).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from assistant import metrics
from assistant.dispatch.protocol import EncodeDispatch
from assistant.errors import AssistantError
from assistant.plugins.contract import Encoding, MediaItem
from assistant.plugins.registry import Registry


class EncodingCache:
    """A thread-safe LRU of encodings bounded by their serialised size."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[str, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Encoding | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
        return Encoding.model_validate_json(entry[0])  # a fresh copy: callers may change it

    def put(self, key: str, encoding: Encoding) -> None:
        raw = encoding.model_dump_json()
        size = len(raw)
        if size > self.max_bytes // 4:  # one huge encoding must not flush everything else
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (raw, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._entries:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped

    def __len__(self) -> int:
        return len(self._entries)


def _digest(item: MediaItem) -> str:
    blob = item.metadata.get("blob")
    if isinstance(blob, dict) and isinstance(blob.get("sha256"), str):
        return str(blob["sha256"])
    with item.path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class CachedDispatch:
    """An EncodeDispatch that answers repeated items from an ``EncodingCache``."""

    def __init__(self, inner: EncodeDispatch, registry: Registry, max_bytes: int) -> None:
        self.inner = inner
        self.registry = registry
        self.cache = EncodingCache(max_bytes)

    def _key(self, tenant: str, item: MediaItem, options: Mapping[str, Any] | None) -> str | None:
        try:
            encoder = self.registry.encoder_for(item.media_type)
            digest = _digest(item)
        except (AssistantError, OSError):  # the inner dispatch reports it, item by item
            return None
        described = json.dumps(
            [tenant, encoder.name, encoder.version, dict(options or {}), item.display_name, digest],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(described.encode()).hexdigest()

    async def encode(
        self, tenant: str, items: Sequence[MediaItem], options: Mapping[str, Any] | None = None
    ) -> list[Encoding | BaseException]:
        keys = await asyncio.to_thread(lambda: [self._key(tenant, i, options) for i in items])
        results: list[Encoding | BaseException | None] = [
            self.cache.get(k) if k is not None else None for k in keys
        ]
        missing = [n for n, r in enumerate(results) if r is None]
        metrics.ENCODE_CACHE.labels("hit").inc(len(items) - len(missing))
        metrics.ENCODE_CACHE.labels("miss").inc(len(missing))
        if missing:
            fresh = await self.inner.encode(tenant, [items[n] for n in missing], options)
            for n, outcome in zip(missing, fresh, strict=True):
                results[n] = outcome
                key = keys[n]
                if key is not None and isinstance(outcome, Encoding) and not outcome.renditions:
                    self.cache.put(key, outcome)
        return [r for r in results if r is not None]

    async def revoke(self, task_ids: Sequence[str]) -> None:
        await self.inner.revoke(task_ids)

    async def ready(self) -> None:
        await self.inner.ready()

    async def refresh_metrics(self) -> None:
        await self.inner.refresh_metrics()

    async def aclose(self) -> None:
        await self.inner.aclose()
