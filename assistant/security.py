"""The security services of a running assistant: hashed keys, their resolver, per-key limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from assistant.audit import configure_audit_file
from assistant.auth import Principal
from assistant.config import Settings
from assistant.keys import KeyResolver, KeyStore
from assistant.ratelimit import KeyLimiter, Limits
from assistant.store import Database


@dataclass
class Security:
    key_store: KeyStore
    # token -> Principal or None; consulted before the static settings keys
    key_resolver: Callable[[str], Principal | None]
    limiter: KeyLimiter

    @classmethod
    def build(cls, settings: Settings, db: Database) -> Security:
        api = settings.api
        if api.audit_log:
            configure_audit_file(api.audit_log)
        limits = Limits(
            per_minute=api.rate_limit_per_minute,
            burst=api.rate_limit_burst,
            concurrent=api.max_concurrent_requests,
        )
        store = KeyStore(db)
        return cls(
            key_store=store,
            key_resolver=KeyResolver(store, ttl_s=api.key_cache_ttl_s),
            limiter=KeyLimiter(limits, settings.workers.redis_url),
        )

    def invalidate_keys(self) -> None:
        """Forget cached key lookups in this process (after a key was revoked here)."""
        invalidate = getattr(self.key_resolver, "invalidate", None)
        if callable(invalidate):
            invalidate()
