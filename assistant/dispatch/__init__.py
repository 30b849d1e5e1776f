"""Where encoders and embedders run: in this process, or on Celery workers behind Redis.

The core sees only the protocols (``protocol.py``); ``build_dispatch`` picks the
implementations from the settings. Task, queue and header names (``names.py``) and the typed
task bodies (``payloads.py``) are shared with the worker package, which imports them from here.
"""

from __future__ import annotations

from assistant.blobs import BlobStore
from assistant.config import Settings
from assistant.dispatch.celery_client import CeleryClient
from assistant.dispatch.celery_dispatch import CeleryDispatch, CeleryEmbedder
from assistant.dispatch.local import InProcessDispatch, LocalEmbedder
from assistant.dispatch.protocol import Embedder, EncodeDispatch, track_tasks
from assistant.embeddings import TextEmbedder
from assistant.plugins.registry import Registry


def uses_workers(settings: Settings) -> bool:
    """Encoding goes through Celery when a Redis URL is set and in-process is not forced.

    ``assistant serve`` sets the URL of its embedded Redis before it builds the services; the
    ``ask``/``ingest`` commands and code-built settings without a URL encode in this process.
    """
    return bool(settings.workers.redis_url) and not settings.workers.in_process


def build_dispatch(
    settings: Settings, registry: Registry, blobs: BlobStore, embedder: TextEmbedder
) -> tuple[EncodeDispatch, Embedder]:
    """The encode dispatch and the ingest embedder: both local, or both on the workers."""
    if not uses_workers(settings):
        return InProcessDispatch(registry), LocalEmbedder(embedder)
    client = CeleryClient(settings)
    return CeleryDispatch(settings, registry, blobs, client), CeleryEmbedder(settings, client)


__all__ = [
    "CeleryClient",
    "CeleryDispatch",
    "CeleryEmbedder",
    "Embedder",
    "EncodeDispatch",
    "InProcessDispatch",
    "LocalEmbedder",
    "build_dispatch",
    "track_tasks",
    "uses_workers",
]
