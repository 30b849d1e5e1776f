"""The long-lived parts of a running assistant, built once from Settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from assistant.config import Settings
from assistant.embeddings import TextEmbedder
from assistant.llm import make_chat_model
from assistant.orchestrator import Orchestrator
from assistant.orchestrator.core import EncodeDispatch
from assistant.retrieval.ingest import Ingestor
from assistant.retrieval.store import VectorStore, make_chroma_client
from assistant.store import Database

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    embedder: TextEmbedder
    store: VectorStore
    llm: BaseChatModel
    orchestrator: Orchestrator
    ingestor: Ingestor
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, dispatch: EncodeDispatch | None = None) -> Services:
        settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.storage.resolved_database_url())
        db.create_all()
        embedder = TextEmbedder(batch_size=settings.retrieval.embedding_batch_size)
        store = VectorStore(
            make_chroma_client(settings.retrieval, settings.storage), embedder, settings.retrieval
        )
        llm = make_chat_model(settings.llm)
        orchestrator = Orchestrator(llm, store, settings.retrieval, dispatch)
        ingestor = Ingestor(store, db, settings.retrieval)
        return cls(settings, db, embedder, store, llm, orchestrator, ingestor)

    def warm_up(self) -> None:
        """Load weights now, so the first request does not pay for it."""
        self.embedder.load()
        load = getattr(self.llm, "load", None)
        if callable(load):
            load()
