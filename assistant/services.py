"""The long-lived parts of a running assistant, built once from Settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from assistant.api.attachments import AttachmentResolver
from assistant.blobs import BlobStore
from assistant.config import Settings
from assistant.embeddings import TextEmbedder
from assistant.encoding import InProcessDispatch
from assistant.llm import make_chat_model
from assistant.orchestrator import Orchestrator
from assistant.orchestrator.core import EncodeDispatch
from assistant.plugins.registry import Registry, build_registry
from assistant.retrieval.ingest import Ingestor
from assistant.retrieval.media_ingest import MediaIngestor
from assistant.retrieval.store import VectorStore, make_chroma_client
from assistant.store import Database

log = logging.getLogger(__name__)


def make_dispatch(settings: Settings, registry: Registry, blobs: BlobStore) -> EncodeDispatch:
    """Where attachments are encoded: in this process, or on Celery workers.

    ``workers.in_process`` (or no Redis URL: ``ask``/``ingest`` commands, code-built settings)
    encodes in this process; otherwise on the workers. ``assistant serve`` sets the URL of its
    embedded Redis before it builds the services.
    """
    from workers.plugins import add_plugin_modules

    add_plugin_modules(registry, settings.workers.plugin_modules)
    if settings.workers.in_process or not settings.workers.redis_url:
        return InProcessDispatch(registry, device=settings.plugins.device)
    from workers.dispatch import CeleryDispatch

    return CeleryDispatch(settings, registry, blobs)


@dataclass
class Services:
    settings: Settings
    db: Database
    embedder: TextEmbedder
    store: VectorStore
    llm: BaseChatModel
    orchestrator: Orchestrator
    ingestor: Ingestor
    registry: Registry
    blobs: BlobStore
    attachments: AttachmentResolver
    media_ingestor: MediaIngestor
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        settings: Settings,
        dispatch: EncodeDispatch | None = None,
        registry: Registry | None = None,
    ) -> Services:
        settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.storage.resolved_database_url())
        db.create_all()
        embedder = TextEmbedder(batch_size=settings.retrieval.embedding_batch_size)
        store = VectorStore(
            make_chroma_client(settings.retrieval, settings.storage), embedder, settings.retrieval
        )
        registry = registry or build_registry(settings.plugins.allow)
        blobs = BlobStore(settings.storage.resolved_blob_url())
        dispatch = dispatch or make_dispatch(settings, registry, blobs)
        llm = make_chat_model(settings.llm)
        orchestrator = Orchestrator(
            llm, store, settings.retrieval, dispatch, model=settings.llm.model_name
        )
        ingestor = Ingestor(store, db, settings.retrieval)
        attachments = AttachmentResolver(settings, db, blobs, registry)
        media_ingestor = MediaIngestor(ingestor, attachments, dispatch)
        from assistant.api.guard import security_extras  # hashed keys, per-key limits

        return cls(
            settings,
            db,
            embedder,
            store,
            llm,
            orchestrator,
            ingestor,
            registry,
            blobs,
            attachments,
            media_ingestor,
            extras=security_extras(settings, db),
        )

    def warm_up(self) -> None:
        """Load weights now, so the first request does not pay for it."""
        self.embedder.load()
        load = getattr(self.llm, "load", None)
        if callable(load):
            load()
