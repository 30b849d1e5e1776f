"""Completion webhooks, signed like Stripe/Slack: HMAC-SHA256 over "{timestamp}.{body}".

Headers:
    X-Assistant-Job: job id
    X-Assistant-Timestamp: unix seconds
    X-Assistant-Signature: sha256=<hex HMAC of "{timestamp}.{raw body}" with the secret>
A receiver recomputes the HMAC with its secret, compares in constant time, and refuses
timestamps older than a few minutes (replay). Delivery retries with backoff (tenacity).

Delivery connects to the address the URL's host resolved to when it was checked, as
``assistant.net.fetch_url`` does (``send_pinned``): each attempt resolves and checks once, then
connects to that address (Host header and TLS SNI carry the name), so a DNS answer that changes
between check and connect cannot reach an internal address. Redirects are not followed: a 3xx
is reported as "rejected 3xx" (a redirect would otherwise need the signed body re-sent to a
host nobody checked). The secret is never logged nor put in the status note.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from assistant.errors import InvalidRequest
from assistant.net import _split, resolve_public, send_pinned

SIGNATURE_HEADER = "X-Assistant-Signature"
TIMESTAMP_HEADER = "X-Assistant-Timestamp"


class _Retryable(Exception):
    pass


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, tolerance_s: float = 300.0
) -> bool:
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(time.time() - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


async def check_url(url: str, allow_private: bool) -> None:
    """Refuse URLs that are not http(s) or that point inside the network (SSRF)."""
    _, host, port, _ = _split(url)
    await resolve_public(host, port, allow_private)


async def deliver(
    url: str,
    secret: str,
    payload: dict[str, Any],
    *,
    allow_private: bool = False,
    attempts: int = 5,
    timeout: float = 10.0,
    max_wait_s: float = 30.0,
) -> str:
    """POST the payload; returns a status note ("delivered 200" or why it was given up)."""
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    status = "not sent"
    try:
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(attempts),
            wait=wait_exponential(multiplier=0.5, max=max_wait_s),
            retry=retry_if_exception_type((_Retryable, httpx.TransportError)),
            reraise=True,
        ):
            with attempt:
                timestamp = int(time.time())
                headers = {
                    "Content-Type": "application/json",
                    "User-Agent": "assistant-webhook/1",
                    "X-Assistant-Job": str(payload.get("id", "")),
                    TIMESTAMP_HEADER: str(timestamp),
                    SIGNATURE_HEADER: sign(secret, timestamp, body),
                }
                async with httpx.AsyncClient(
                    timeout=timeout, trust_env=False, follow_redirects=False
                ) as client:
                    response = await send_pinned(
                        client,
                        "POST",
                        url,
                        allow_private=allow_private,
                        headers=headers,
                        content=body,
                    )
                status = f"delivered {response.status_code}"
                if response.status_code >= 500 or response.status_code == 429:
                    raise _Retryable(status)
                if response.status_code >= 300:  # 3xx too: redirects are not followed
                    return f"rejected {response.status_code}"
    except InvalidRequest as exc:  # the name now resolves somewhere it may not go
        return f"refused: {exc.message}"
    except (_Retryable, httpx.TransportError) as exc:
        return f"failed after {attempts} attempts: {exc or type(exc).__name__}"
    return status
