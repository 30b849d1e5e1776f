"""The long-lived parts of a running assistant, built once from Settings, in one place.

``Services.build`` wires them; the app's lifespan (or a CLI command, or a bot runner) calls
``start()`` once an event loop runs and ``aclose()`` at the end. Every field is typed: routes,
jobs and bots reach what they need by name, never through a dict of extras.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel

from assistant.attachments import AttachmentResolver
from assistant.blobs import BlobStore, sweep_forever
from assistant.chat.service import ChatService
from assistant.config import Settings
from assistant.dispatch import build_dispatch, uses_workers
from assistant.dispatch.cache import CachedDispatch, SharedEncodings
from assistant.dispatch.local import InProcessDispatch, LocalEmbedder
from assistant.dispatch.protocol import Embedder, EncodeDispatch
from assistant.embeddings import TextEmbedder
from assistant.jobs.kinds import JobContext
from assistant.jobs.runner import JobManager
from assistant.jobs.store import JobStore
from assistant.llm import make_chat_model
from assistant.media.sandbox import DecoderPool
from assistant.orchestrator import Orchestrator
from assistant.orchestrator.media import render_options_for
from assistant.plugins.registry import Registry, registry_for
from assistant.retrieval.embedding_service import EmbeddingService
from assistant.retrieval.ingest import Ingestor
from assistant.retrieval.ingest_service import IngestService
from assistant.retrieval.search import SearchService
from assistant.retrieval.store import VectorStore, make_chroma_client
from assistant.security import Security
from assistant.store import Database
from assistant.transcription import TranscriptionService

log = logging.getLogger(__name__)

# a readiness probe: raises (an AssistantError says what is wrong) when the part is not ready
ReadinessProbe = Callable[[], Awaitable[Any]]


@dataclass
class Services:
    settings: Settings
    db: Database
    embedder: TextEmbedder  # this process's (queries; documents when there are no workers)
    store: VectorStore
    llm: BaseChatModel
    registry: Registry
    blobs: BlobStore
    dispatch: EncodeDispatch  # where attachments are encoded
    ingest_embedder: Embedder  # where ingested chunks are embedded
    orchestrator: Orchestrator
    ingestor: Ingestor
    attachments: AttachmentResolver
    ingest: IngestService
    search: SearchService
    chat: ChatService
    embeddings: EmbeddingService
    transcription: TranscriptionService
    security: Security
    jobs: JobManager
    model_ids: frozenset[str]  # the chat models
    # when this process started serving its models (the ``created`` of GET /v1/models)
    created: int = field(default_factory=lambda: int(time.time()))
    # the Slack bot of POST /slack/events, built on its first request (bots extra)
    slack_bot: Any | None = None
    # the encodings this process shares with the others through Redis (closed with the rest)
    shared_encodings: SharedEncodings | None = None
    _started: bool = field(default=False, repr=False)
    _sweeper: asyncio.Task[None] | None = field(default=None, repr=False)

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
        embedder = TextEmbedder(batch_size=settings.retrieval.embedding_model_batch)
        store = VectorStore(
            make_chroma_client(settings.retrieval, settings.storage),
            embedder,
            settings.retrieval,
            term_index=db,
        )
        registry = registry or registry_for(settings)
        blobs = BlobStore(settings.storage.resolved_blob_url())
        built = dispatch is None
        if dispatch is None:
            dispatch, ingest_embedder = build_dispatch(settings, registry, blobs, embedder)
        else:  # given in code (tests): documents are embedded here
            ingest_embedder = LocalEmbedder(embedder)
        # what encodes for the services: the same bytes once (``dispatch`` stays the raw one,
        # for readiness, metrics and closing)
        encoding: EncodeDispatch = dispatch
        shared: SharedEncodings | None = None
        if settings.media.encode_cache_mb and built:
            if uses_workers(settings) and settings.media.encode_cache_shared_s:
                shared = SharedEncodings(
                    settings.workers.redis_url, settings.media.encode_cache_shared_s
                )
            encoding = CachedDispatch(
                dispatch, registry, settings.media.encode_cache_mb << 20, shared
            )
        llm = make_chat_model(settings.llm)
        orchestrator = Orchestrator(
            llm,
            store,
            settings.retrieval,
            encoding,
            model=settings.llm.model_name,
            render=render_options_for(settings.llm),
            blobs=blobs,
            llm_settings=settings.llm,
        )
        ingestor = Ingestor(store, db, settings.retrieval)
        decoders = DecoderPool(settings.media)
        attachments = AttachmentResolver(settings, db, blobs, registry, decoders)
        ingest = IngestService(ingestor, attachments, encoding, ingest_embedder)
        model_ids = frozenset({settings.llm.model_name})
        chat = ChatService(settings, db, attachments, orchestrator, model_ids)
        embeddings = EmbeddingService(embedder, ingest_embedder)
        transcription = TranscriptionService(attachments, encoding, registry)
        jobs = JobManager(
            JobContext(settings, db, JobStore(db), attachments, encoding, ingest, chat)
        )
        return cls(
            settings=settings,
            db=db,
            embedder=embedder,
            store=store,
            llm=llm,
            registry=registry,
            blobs=blobs,
            dispatch=dispatch,
            ingest_embedder=ingest_embedder,
            orchestrator=orchestrator,
            ingestor=ingestor,
            attachments=attachments,
            ingest=ingest,
            search=SearchService(store, attachments, encoding),
            chat=chat,
            embeddings=embeddings,
            transcription=transcription,
            security=Security.build(settings, db),
            jobs=jobs,
            model_ids=model_ids,
            shared_encodings=shared,
        )

    def served_models(self) -> dict[str, str]:
        """Every model id a client may name, with what it does (chat, embeddings, audio)."""
        models = dict.fromkeys(self.model_ids, "chat")
        models.update(dict.fromkeys(self.embeddings.model_ids, "embeddings"))
        models.update(dict.fromkeys(self.transcription.model_ids, "audio"))
        return models

    def warm_up(self) -> None:
        """Load weights (and start a decoder) now, so the first request does not pay for it."""
        self.attachments.decoders.warm()
        self.embedder.load()
        load = getattr(self.llm, "load", None)
        if callable(load):
            load()

    @property
    def encodes_in_process(self) -> bool:
        return isinstance(self.dispatch, InProcessDispatch)

    def readiness(self) -> dict[str, ReadinessProbe]:
        """The parts /readyz checks, by name."""

        def llm_ready() -> None:
            load = getattr(self.llm, "load", None)
            if callable(load):
                load()

        probes: dict[str, ReadinessProbe] = {
            "store": lambda: asyncio.to_thread(self.db.ping),
            "chroma": lambda: asyncio.to_thread(self.store.heartbeat),
            "llm": lambda: asyncio.to_thread(llm_ready),
        }
        if not self.encodes_in_process:
            probes["workers"] = self.dispatch.ready
        return probes

    async def start(self) -> None:
        """Start the background work (the job scanner resumes jobs left behind)."""
        if not self._started:
            self._started = True
            self.jobs.start_scanner()
            if self.settings.retrieval.hybrid:
                await asyncio.to_thread(self._check_keyword_index)
            storage = self.settings.storage
            if storage.blob_sweep_interval_s > 0:
                self._sweeper = asyncio.get_running_loop().create_task(
                    sweep_forever(
                        self.blobs,
                        self.db.referenced_blob_keys,
                        storage.blob_grace_s,
                        storage.blob_sweep_interval_s,
                    )
                )

    def _check_keyword_index(self) -> None:
        """Say so when documents predate hybrid search's keyword index (not written here:
        every replica starting at once would read the whole knowledge base)."""
        missing = self.db.documents_without_terms()
        if missing:
            log.warning(
                "%d document(s) have no keyword index (ingested before it existed): hybrid "
                "search finds their rare words only among the nearest chunks until "
                "`assistant reindex` writes it",
                missing,
            )

    async def aclose(self) -> None:
        """Stop the background work and close broker connections; safe to call twice."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sweeper
            self._sweeper = None
        with contextlib.suppress(Exception):
            await self.jobs.aclose()
        with contextlib.suppress(Exception):
            await self.dispatch.aclose()
        if self.shared_encodings is not None:
            self.shared_encodings.close()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.attachments.decoders.close)
        self._started = False
