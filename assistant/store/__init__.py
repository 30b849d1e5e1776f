"""Persistent records: conversations, messages, documents (SQLAlchemy; SQLite by default)."""

from assistant.store.db import Database
from assistant.store.models import Base, Conversation, Document, File, Message

__all__ = ["Base", "Conversation", "Database", "Document", "File", "Message"]
