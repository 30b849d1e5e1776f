"""API keys stored hashed, each bound to a tenant, optionally with admin scope.

A key is ``sk-ast-`` plus 32 random bytes (URL-safe base64): high entropy, so a plain SHA-256
of it is a safe thing to store and to look up by (no salt or slow hash is needed, unlike for
passwords). The plaintext is shown once, when the key is created, and never stored or logged.
Keys are identified by ``key_...`` ids everywhere else (lists, audit log, revocation).

``KeyResolver`` is the callable the API's ``authenticate`` consults first
(``services.extras["key_resolver"]``): token -> Principal or None, with a short TTL cache so
most requests do not touch the database; a revoked key stops working within the TTL in other
API processes and at once in the process that revoked it.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, String, select
from sqlalchemy.orm import Mapped, mapped_column

from assistant.auth import Principal
from assistant.config import Settings
from assistant.errors import InvalidRequest, NotFound
from assistant.store import Database
from assistant.store.models import Base

KEY_PREFIX = "sk-ast-"
# Chroma collection names are "{prefix}-{tenant}" (3-63 characters, alphanumeric at both
# ends): tenant names are kept inside that, so two tenants can never share a collection.
TENANT_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{0,46}[A-Za-z0-9])?$")


def _now() -> datetime:
    return datetime.now(UTC)


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_tenant(tenant: str) -> str:
    if not TENANT_RE.fullmatch(tenant or ""):
        raise InvalidRequest(
            "a tenant name is 1-48 letters, digits, '-' or '_', starting and ending with a "
            "letter or digit",
            param="tenant",
        )
    return tenant


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    def public(self) -> dict[str, Any]:
        def ts(value: datetime | None) -> int | None:
            if value is None:
                return None
            return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())

        return {
            "id": self.id,
            "object": "api_key",
            "tenant": self.tenant,
            "name": self.name,
            "admin": self.admin,
            "created_at": ts(self.created_at),
            "revoked_at": ts(self.revoked_at),
        }


class KeyStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.create_all()  # the model is on the shared Base: its table is created with the rest

    def create(self, tenant: str, name: str = "", admin: bool = False) -> tuple[ApiKey, str]:
        """A new key for ``tenant``; returns the row and the plaintext (shown once)."""
        check_tenant(tenant)
        token = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.db.session() as s:
            row = ApiKey(
                id="key_" + secrets.token_hex(8),
                tenant=tenant,
                name=name[:200],
                admin=admin,
                key_hash=hash_key(token),
            )
            s.add(row)
            s.flush()
            return row, token

    def list(
        self, tenant: str | None = None, include_revoked: bool = False, limit: int = 1000
    ) -> list[ApiKey]:
        with self.db.session() as s:
            query = select(ApiKey).order_by(ApiKey.created_at.desc()).limit(limit)
            if tenant is not None:
                query = query.where(ApiKey.tenant == tenant)
            if not include_revoked:
                query = query.where(ApiKey.revoked_at.is_(None))
            return list(s.scalars(query))

    def get(self, key_id: str, tenant: str | None = None) -> ApiKey:
        with self.db.session() as s:
            row = s.get(ApiKey, key_id)
            if row is None or (tenant is not None and row.tenant != tenant):
                raise NotFound(f"API key {key_id!r} not found", param="key_id")
            return row

    def revoke(self, key_id: str, tenant: str | None = None) -> ApiKey:
        """Revoke a key (idempotent); ``tenant`` limits it to that tenant's keys (404 else)."""
        with self.db.session() as s:
            row = s.get(ApiKey, key_id)
            if row is None or (tenant is not None and row.tenant != tenant):
                raise NotFound(f"API key {key_id!r} not found", param="key_id")
            if row.revoked_at is None:
                row.revoked_at = _now()
            return row

    def lookup(self, token: str) -> Principal | None:
        if not token.startswith(KEY_PREFIX):
            return None
        with self.db.session() as s:
            row = s.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(token))).first()
            if row is None or row.revoked_at is not None:
                return None
            return Principal(tenant=row.tenant, key_id=row.id, admin=row.admin)


def open_key_store(settings: Settings) -> KeyStore:
    """The key table of the configured database (for the CLI)."""
    db = Database(settings.storage.resolved_database_url())
    db.create_all()
    return KeyStore(db)


class KeyResolver:
    """token -> Principal | None, cached for ``ttl_s`` (by hash; plaintext is not kept)."""

    MAX_ENTRIES = 10_000

    def __init__(
        self, store: KeyStore, ttl_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.clock = clock
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, token: str) -> Principal | None:
        if not token.startswith(KEY_PREFIX):
            return None  # static settings keys and junk never reach the database
        digest = hash_key(token)
        now = self.clock()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = self.store.lookup(token)
        if self.ttl_s > 0:
            with self._lock:
                if len(self._cache) >= self.MAX_ENTRIES:
                    self._cache.clear()
                self._cache[digest] = (now + self.ttl_s, principal)
        return principal

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()
