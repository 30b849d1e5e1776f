"""Database access: one engine, short sessions, tenant-scoped queries."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import Insert

from assistant.blobs import blob_key
from assistant.errors import NotFound, ServiceUnavailable
from assistant.media.types import media_kind
from assistant.store.models import Base, ChunkTerm, Conversation, Document, File, Message

TERM_MAX_CHARS = 64  # the column's width: a longer "word" (a hash, a URL) is not indexed


def add_messages(
    session: Session, conversation_id: str, messages: Sequence[dict[str, Any]]
) -> None:
    """Append messages after the conversation's last one, inside the caller's transaction."""
    last = session.scalar(
        select(func.coalesce(func.max(Message.seq), -1)).where(
            Message.conversation_id == conversation_id
        )
    )
    for offset, m in enumerate(messages, start=1):
        session.add(
            Message(
                conversation_id=conversation_id,
                seq=(last if last is not None else -1) + offset,
                role=m["role"],
                content=m["content"],
                citations=m.get("citations", []),
            )
        )


def _insert_new_terms(session: Session) -> Insert:
    """An INSERT into the keyword index that skips rows already there: two replicas
    re-ingesting one document at once may both delete its rows and then both insert them
    (PostgreSQL's READ COMMITTED lets them interleave); the rows are the same."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(ChunkTerm).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(ChunkTerm).on_conflict_do_nothing()
    return insert(ChunkTerm)


class Database:
    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        connect_args = (
            {"check_same_thread": False, "timeout": 30} if url.startswith("sqlite") else {}
        )
        self.engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        """Create missing tables. Several processes may start at once (uvicorn --workers N):
        on PostgreSQL an advisory lock makes them take turns instead of racing CREATE TABLE."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(4242001)"))
            Base.metadata.create_all(conn)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            raise ServiceUnavailable(f"the conversation store is unavailable: {exc}") from exc

    # conversations -------------------------------------------------------------------

    def get_conversation(self, tenant: str, conversation_id: str) -> Conversation:
        with self.session() as s:
            conv = s.get(Conversation, conversation_id)
            if conv is None or conv.tenant != tenant:  # another tenant's id looks like no id
                raise NotFound(
                    f"conversation {conversation_id!r} not found", param="conversation_id"
                )
            _ = conv.messages  # load while the session is open
            return conv

    def create_conversation(
        self, tenant: str, title: str = "", external_key: str | None = None
    ) -> Conversation:
        with self.session() as s:
            conv = Conversation(tenant=tenant, title=title[:200], external_key=external_key)
            s.add(conv)
            s.flush()
            return conv

    def conversation_for_key(self, tenant: str, external_key: str, title: str = "") -> Conversation:
        with self.session() as s:
            conv = s.scalars(
                select(Conversation).where(
                    Conversation.tenant == tenant, Conversation.external_key == external_key
                )
            ).first()
            if conv is not None:
                return conv
        return self.create_conversation(tenant, title, external_key)

    def history(self, tenant: str, conversation_id: str) -> list[Message]:
        return list(self.get_conversation(tenant, conversation_id).messages)

    def append_messages(
        self, tenant: str, conversation_id: str, messages: Sequence[dict[str, Any]]
    ) -> None:
        with self.session() as s:
            conv = s.get(Conversation, conversation_id)
            if conv is None or conv.tenant != tenant:
                raise NotFound(
                    f"conversation {conversation_id!r} not found", param="conversation_id"
                )
            add_messages(s, conversation_id, messages)

    def list_conversations(self, tenant: str, limit: int = 100) -> list[Conversation]:
        with self.session() as s:
            return list(
                s.scalars(
                    select(Conversation)
                    .where(Conversation.tenant == tenant)
                    .order_by(Conversation.created_at.desc())
                    .limit(limit)
                )
            )

    # documents -----------------------------------------------------------------------

    def upsert_document(self, doc: Document) -> None:
        with self.session() as s:
            s.merge(doc)

    def get_document(self, tenant: str, document_id: str) -> Document:
        with self.session() as s:
            doc = s.get(Document, document_id)
            if doc is None or doc.tenant != tenant:
                raise NotFound(f"document {document_id!r} not found", param="document_id")
            return doc

    def list_documents(self, tenant: str, limit: int = 1000) -> list[Document]:
        with self.session() as s:
            return list(
                s.scalars(
                    select(Document)
                    .where(Document.tenant == tenant)
                    .order_by(Document.created_at.desc())
                    .limit(limit)
                )
            )

    def delete_document(self, tenant: str, document_id: str) -> None:
        self.get_document(tenant, document_id)
        with self.session() as s:
            s.execute(delete(Document).where(Document.id == document_id, Document.tenant == tenant))
            s.execute(
                delete(ChunkTerm).where(
                    ChunkTerm.tenant == tenant, ChunkTerm.document_id == document_id
                )
            )

    # the keyword index (hybrid search) ----------------------------------------------

    def replace_chunk_terms(
        self, tenant: str, document_id: str, chunk_terms: Mapping[str, Iterable[str]]
    ) -> None:
        """The document's chunks and the words (stems) each holds, in place of its old ones."""
        rows = [
            {"tenant": tenant, "term": term, "chunk_id": chunk_id, "document_id": document_id}
            for chunk_id, terms in chunk_terms.items()
            for term in sorted(set(terms))
            if 0 < len(term) <= TERM_MAX_CHARS
        ]
        with self.session() as s:
            s.execute(
                delete(ChunkTerm).where(
                    ChunkTerm.tenant == tenant, ChunkTerm.document_id == document_id
                )
            )
            for start in range(0, len(rows), 5000):
                s.execute(_insert_new_terms(s), rows[start : start + 5000])

    def document_keys(self, tenant: str | None = None) -> list[tuple[str, str]]:
        """(tenant, document id) of every document, or of one tenant's."""
        query = select(Document.tenant, Document.id).order_by(Document.tenant, Document.id)
        if tenant is not None:
            query = query.where(Document.tenant == tenant)
        with self.session() as s:
            return [(t, i) for t, i in s.execute(query)]

    def documents_without_terms(self) -> int:
        """Documents with chunks but no keyword-index rows: ingested before the index existed
        (``assistant reindex`` writes theirs)."""
        indexed = select(ChunkTerm.chunk_id).where(
            ChunkTerm.tenant == Document.tenant, ChunkTerm.document_id == Document.id
        )
        query = select(func.count()).where(Document.chunks > 0, ~indexed.exists())
        with self.session() as s:
            return int(s.scalar(query.select_from(Document)) or 0)

    def chunks_holding(self, tenant: str, term: str, limit: int) -> list[str]:
        """Up to ``limit`` ids of the tenant's chunks that hold the word (stem)."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(ChunkTerm.chunk_id)
                    .where(ChunkTerm.tenant == tenant, ChunkTerm.term == term)
                    .limit(limit)
                )
            )

    # files ---------------------------------------------------------------------------

    def add_file(self, file: File) -> File:
        with self.session() as s:
            s.add(file)
            s.flush()
            return file

    def get_file(self, tenant: str, file_id: str) -> File:
        with self.session() as s:
            file = s.get(File, file_id)
            if file is None or file.tenant != tenant:
                raise NotFound(f"file {file_id!r} not found", param="file_id")
            return file

    def list_files(self, tenant: str, limit: int = 1000) -> list[File]:
        with self.session() as s:
            return list(
                s.scalars(
                    select(File)
                    .where(File.tenant == tenant)
                    .order_by(File.created_at.desc())
                    .limit(limit)
                )
            )

    def referenced_blob_keys(self, tenant: str | None = None) -> set[str]:
        """The blobs something points at (of one tenant, or of all): every upload's, and every
        media document's original (text documents keep their chunks, not their bytes)."""
        files = select(File.blob_key)
        documents = select(Document.tenant, Document.sha256, Document.media_type)
        if tenant is not None:
            files = files.where(File.tenant == tenant)
            documents = documents.where(Document.tenant == tenant)
        with self.session() as s:
            keys = set(s.scalars(files))
            rows = s.execute(documents)
            for owner, sha256, media_type in rows:
                if media_kind(media_type) != "document":
                    suffix = mimetypes.guess_extension(media_type) or ""
                    keys.add(blob_key(owner, sha256, suffix))
        return keys

    def delete_file(self, tenant: str, file_id: str) -> File:
        file = self.get_file(tenant, file_id)
        with self.session() as s:
            s.execute(delete(File).where(File.id == file_id, File.tenant == tenant))
        return file
