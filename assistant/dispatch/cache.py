"""The same bytes are encoded once: encodings by content hash, in front of a dispatch.

A chat front end sends the whole conversation again on every turn (Open WebUI, the OpenAI SDK's
clients), images included: without this, each turn of a conversation about one photo would
classify and OCR it again. The key is the tenant (no tenant learns what another one sent), the
encoder's name and version, the options, the item's name (an encoder may write it into what it
finds) and the SHA-256 of the bytes. Failures are not kept (a
worker that was away must get another try), nor encodings with renditions (model-ready copies:
large, and staged blobs that are swept).

Two tiers: an LRU in this process, then (with workers on Redis) the encodings every API process
shares through the broker's Redis for a while. Behind a load balancer without sticky sessions
each turn of a conversation may reach another replica (or another ``uvicorn --workers``
process); without the shared tier each of them would encode the conversation's image again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from assistant import metrics
from assistant.dispatch.protocol import EncodeDispatch
from assistant.errors import AssistantError
from assistant.plugins.contract import Encoding, MediaItem
from assistant.plugins.registry import Registry

log = logging.getLogger(__name__)


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

    def put(self, key: str, raw: str) -> None:
        """Keep an encoding, as its JSON (``Encoding.model_dump_json``)."""
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


class SharedEncodings:
    """Encodings every API process reads, in Redis (the broker's), each kept for ``ttl_s``.

    Redis failing is a miss, never an error (for a while after it fails Redis is not asked
    again): the dispatch after the cache reports a broker that is really down.
    """

    PREFIX = "assistant:encodings:"
    # Redis is the broker too: an entry this large is not worth what it costs every client there
    MAX_ENTRY_BYTES = 1 << 20
    RETRY_AFTER_S = 5.0

    def __init__(self, url: str, ttl_s: int) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.ttl_s = ttl_s
        self._down_until = 0.0

    def _failed(self, doing: str, exc: Exception) -> None:
        log.warning(
            "the shared encode cache is skipped for %.0f s: %s failed: %s",
            self.RETRY_AFTER_S,
            doing,
            exc,
        )
        self._down_until = time.monotonic() + self.RETRY_AFTER_S

    def get_many(self, keys: Sequence[str]) -> list[str | None]:
        """Each key's encoding JSON, or None where it is not there (or Redis failed)."""
        if not keys or time.monotonic() < self._down_until:
            return [None] * len(keys)
        try:
            found = self.client.mget([self.PREFIX + k for k in keys])
        except Exception as exc:  # redis.RedisError, or a socket error it did not wrap
            self._failed("reading", exc)
            return [None] * len(keys)
        return [raw.decode() if isinstance(raw, bytes) else raw for raw in found]

    def put_many(self, entries: Mapping[str, str]) -> None:
        kept = {k: raw for k, raw in entries.items() if len(raw) <= self.MAX_ENTRY_BYTES}
        if not kept or time.monotonic() < self._down_until:
            return
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for key, raw in kept.items():
                    pipe.set(self.PREFIX + key, raw, ex=self.ttl_s)
                pipe.execute()
        except Exception as exc:
            self._failed("writing", exc)

    def close(self) -> None:
        self.client.close()


def _digest(item: MediaItem) -> str:
    blob = item.metadata.get("blob")
    if isinstance(blob, dict) and isinstance(blob.get("sha256"), str):
        return str(blob["sha256"])
    with item.path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class CachedDispatch:
    """An EncodeDispatch that answers repeated items from an ``EncodingCache``, then from the
    ``shared`` one when given."""

    def __init__(
        self,
        inner: EncodeDispatch,
        registry: Registry,
        max_bytes: int,
        shared: SharedEncodings | None = None,
    ) -> None:
        self.inner = inner
        self.registry = registry
        self.cache = EncodingCache(max_bytes)
        self.shared = shared

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

    def _look_up(
        self, tenant: str, items: Sequence[MediaItem], options: Mapping[str, Any] | None
    ) -> tuple[list[str | None], list[Encoding | BaseException | None]]:
        """Each item's key and what the tiers hold for it (a shared hit is kept here too)."""
        keys = [self._key(tenant, item, options) for item in items]
        results: list[Encoding | BaseException | None] = [
            self.cache.get(k) if k is not None else None for k in keys
        ]
        local = sum(r is not None for r in results)
        asked = [n for n, r in enumerate(results) if r is None and keys[n] is not None]
        if self.shared is not None and asked:
            found = self.shared.get_many([str(keys[n]) for n in asked])
            for n, raw in zip(asked, found, strict=True):
                if raw is None:
                    continue
                try:
                    results[n] = Encoding.model_validate_json(raw)
                except ValidationError:  # written by another version: encoded again
                    continue
                self.cache.put(str(keys[n]), raw)
        shared = sum(r is not None for r in results) - local
        metrics.ENCODE_CACHE.labels("hit").inc(local)
        metrics.ENCODE_CACHE.labels("shared").inc(shared)
        metrics.ENCODE_CACHE.labels("miss").inc(len(items) - local - shared)
        return keys, results

    def _keep(self, fresh: Mapping[str, Encoding]) -> dict[str, str]:
        raw = {key: encoding.model_dump_json() for key, encoding in fresh.items()}
        for key, value in raw.items():
            self.cache.put(key, value)
        return raw

    async def encode(
        self, tenant: str, items: Sequence[MediaItem], options: Mapping[str, Any] | None = None
    ) -> list[Encoding | BaseException]:
        keys, results = await asyncio.to_thread(self._look_up, tenant, items, options)
        missing = [n for n, r in enumerate(results) if r is None]
        if missing:
            outcomes = await self.inner.encode(tenant, [items[n] for n in missing], options)
            fresh: dict[str, Encoding] = {}
            for n, outcome in zip(missing, outcomes, strict=True):
                results[n] = outcome
                key = keys[n]
                if key is not None and isinstance(outcome, Encoding) and not outcome.renditions:
                    fresh[key] = outcome
            if fresh:
                kept = self._keep(fresh)
                if self.shared is not None:
                    await asyncio.to_thread(self.shared.put_many, kept)
        return [r for r in results if r is not None]

    async def revoke(self, task_ids: Sequence[str]) -> None:
        await self.inner.revoke(task_ids)

    async def ready(self) -> None:
        await self.inner.ready()

    async def refresh_metrics(self) -> None:
        await self.inner.refresh_metrics()

    async def aclose(self) -> None:
        if self.shared is not None:
            self.shared.close()
        await self.inner.aclose()
