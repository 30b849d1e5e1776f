"""Thin Celery tasks over workers/encode.py. Keyword-only arguments, JSON in and out.

Retries with exponential backoff only for transient faults (the blob store or the network);
bad input (an AssistantError with a 4xx status) comes back as a per-item error payload and is
never retried.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from assistant.dispatch import names
from assistant.dispatch.payloads import EmbedRequest, EncodeRequest
from assistant.errors import AssistantError
from workers import threads
from workers.app import app
from workers.encode import TransientError, embed_texts, encode_items
from workers.startup import runtime

__all__ = ["app", "embed", "encode", "ping"]

TRANSIENT = (TransientError, ConnectionError, TimeoutError)


@app.task(
    name=names.TASK_ENCODE,
    autoretry_for=TRANSIENT,
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=4,
)
def encode(
    *, encoder: str, items: list[dict[str, Any]], options: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = EncodeRequest(encoder=encoder, items=items, options=options)
    rt = runtime()
    return encode_items(
        rt.encoders, rt.blobs, body.encoder, body.items, body.options, queues=rt.queues
    )


@app.task(
    name=names.TASK_EMBED,
    autoretry_for=TRANSIENT,
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=4,
    throws=(AssistantError,),
)
def embed(*, texts: list[str]) -> dict[str, Any]:
    return embed_texts(runtime().embedder, EmbedRequest(texts=texts).texts)


@app.task(name=names.TASK_PING, acks_late=False)
def ping() -> dict[str, Any]:
    rt = runtime()
    return {
        "node": os.environ.get("ASSISTANT_WORKER_NAME", socket.gethostname()),
        "pid": os.getpid(),
        "queues": rt.queues,
        "encoders": rt.hosted(),
        "load_errors": rt.load_errors,
        "threads": threads.budget_here(),
        "torch_threads": threads.torch_threads(),
    }
