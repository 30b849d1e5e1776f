"""Per-key request limits: a token bucket (requests per minute, burst) and a cap on requests in
flight at once. Both live in Redis when a Redis URL is known (so every API process shares
them), in this process otherwise, and in this process for a while after Redis fails (limits
degrade to per-process rather than stopping the API).

Refusals raise ``RateLimited`` (429) with ``retry_after``: seconds until a token is back, or
1 s for a full concurrency cap.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from assistant.errors import RateLimited

log = logging.getLogger(__name__)

Release = Callable[[], None]


def _noop() -> None:
    return None


@dataclass(frozen=True)
class Limits:
    per_minute: float = 0.0  # 0 = no rate limit
    burst: int = 0  # bucket size; 0 = max(1, per_minute / 6)
    concurrent: int = 0  # 0 = no concurrency cap
    slot_ttl_s: float = 900.0  # a slot held longer than this (a dead process) is freed

    @property
    def rate_per_s(self) -> float:
        return self.per_minute / 60.0

    @property
    def bucket(self) -> float:
        return float(self.burst or max(1, math.ceil(self.per_minute / 6)))


class MemoryBackend:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._active: dict[str, int] = {}

    def take(self, key: str, rate: float, bucket: float) -> float:
        """Take one token; 0.0 when granted, else seconds until one is available."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (bucket, now))
            tokens = min(bucket, tokens + max(0.0, now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate

    def enter(self, key: str, limit: int, ttl_s: float) -> Release | None:  # noqa: ARG002 - the limiter backend interface
        with self._lock:
            if self._active.get(key, 0) >= limit:
                return None
            self._active[key] = self._active.get(key, 0) + 1
        done = threading.Event()

        def release() -> None:
            if done.is_set():
                return
            done.set()
            with self._lock:
                left = self._active.get(key, 1) - 1
                if left > 0:
                    self._active[key] = left
                else:
                    self._active.pop(key, None)

        return release


_TAKE = """
local rate = tonumber(ARGV[1])
local bucket = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local v = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(v[1])
local ts = tonumber(v[2])
if tokens == nil or ts == nil then
  tokens = bucket
  ts = now
end
tokens = math.min(bucket, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(bucket / rate * 1000) + 1000)
return tostring(wait)
"""

_ENTER = """
local limit = tonumber(ARGV[1])
local ttl = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[2])
redis.call('EXPIRE', KEYS[1], math.ceil(ttl) + 1)
return 1
"""


class RedisBackend:
    PREFIX = "assistant:limits:"

    def __init__(self, url: str) -> None:
        import redis

        self.url = url
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._take = self.client.register_script(_TAKE)
        self._enter = self.client.register_script(_ENTER)

    def take(self, key: str, rate: float, bucket: float) -> float:
        result: Any = self._take(keys=[f"{self.PREFIX}rate:{key}"], args=[rate, bucket])
        return float(result.decode() if isinstance(result, bytes) else result)

    def enter(self, key: str, limit: int, ttl_s: float) -> Release | None:
        name = f"{self.PREFIX}active:{key}"
        member = uuid.uuid4().hex
        if not int(self._enter(keys=[name], args=[limit, member, ttl_s])):
            return None

        def release() -> None:
            try:
                self.client.zrem(name, member)
            except Exception as exc:  # the slot expires after slot_ttl_s anyway
                log.warning("could not release a concurrency slot in Redis: %s", exc)

        return release

    def close(self) -> None:
        self.client.close()


class KeyLimiter:
    """``acquire(key)`` admits one request or raises RateLimited; returns its release."""

    RETRY_REDIS_AFTER_S = 5.0

    def __init__(self, limits: Limits, redis_url: str = "") -> None:
        self.limits = limits
        self.memory = MemoryBackend()
        self.redis_url = redis_url
        self._redis: RedisBackend | None = None
        self._redis_down_until = 0.0

    @property
    def enabled(self) -> bool:
        return self.limits.per_minute > 0 or self.limits.concurrent > 0

    def _backend(self) -> MemoryBackend | RedisBackend:
        if not self.redis_url or time.monotonic() < self._redis_down_until:
            return self.memory
        if self._redis is None:
            self._redis = RedisBackend(self.redis_url)
        return self._redis

    def _call(self, fn: Callable[[MemoryBackend | RedisBackend], Any]) -> Any:
        backend = self._backend()
        if backend is self.memory:
            return fn(backend)
        try:
            return fn(backend)
        except Exception as exc:
            log.warning(
                "rate limits fall back to this process for %.0f s: Redis failed: %s",
                self.RETRY_REDIS_AFTER_S,
                exc,
            )
            self._redis_down_until = time.monotonic() + self.RETRY_REDIS_AFTER_S
            return fn(self.memory)

    def acquire(self, key: str, concurrent: bool = True) -> Release:
        """A slot first (a request refused for concurrency costs no token), then a token."""
        limits = self.limits
        release: Release = _noop
        if concurrent and limits.concurrent > 0:
            slot = self._call(lambda b: b.enter(key, limits.concurrent, limits.slot_ttl_s))
            if slot is None:
                raise RateLimited(
                    f"this API key already has {limits.concurrent} requests in flight; "
                    "wait for one to finish",
                    retry_after=1.0,
                )
            release = slot
        if limits.per_minute > 0:
            try:
                wait = float(self._call(lambda b: b.take(key, limits.rate_per_s, limits.bucket)))
            except BaseException:
                release()
                raise
            if wait > 0:
                release()
                raise RateLimited(
                    f"rate limit of {limits.per_minute:g} requests per minute reached for this "
                    f"API key; retry in {math.ceil(wait)} s",
                    retry_after=max(1.0, math.ceil(wait)),
                )
        return release

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
