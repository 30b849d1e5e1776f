"""Request id, job id and trace context, carried from the API to the workers in task headers.

API side: ``capture()`` takes the caller's ids (``assistant.logs`` contextvars) and its
``traceparent`` when an item is submitted; a micro-batch that joins items of several requests
sends their distinct ids comma-joined (``merge``). Every other publish gets the ids of the
current context in ``before_task_publish`` (``stamp``, assistant/dispatch/celery_app.py).

Worker side: ``enter(request)`` on task_prerun sets the same contextvars from the message
headers, so the worker's JSON log lines carry the API's ids; ``leave`` on task_postrun resets them.
"""

from __future__ import annotations

import contextvars
from collections.abc import MutableMapping, Sequence
from typing import Any

from assistant import logs, tracing
from assistant.dispatch.names import JOB_ID_HEADER, REQUEST_ID_HEADER

MAX_IDS = 8  # a batch's header names at most this many requests/jobs


def capture() -> dict[str, str]:
    """The current ids and trace context, as task headers."""
    out: dict[str, str] = {}
    rid, jid = logs.request_id.get(), logs.job_id.get()
    if rid:
        out[REQUEST_ID_HEADER] = rid
    if jid:
        out[JOB_ID_HEADER] = jid
    tracing.inject(out)
    return out


def merge(carriers: Sequence[dict[str, str]]) -> dict[str, str]:
    """Headers for one task serving several callers: the first's trace, every distinct id."""
    out = dict(carriers[0]) if carriers else {}
    for key in (REQUEST_ID_HEADER, JOB_ID_HEADER):
        ids = list(dict.fromkeys(c[key] for c in carriers if c.get(key)))
        if ids:
            out[key] = ",".join(ids[:MAX_IDS])
    return out


def stamp(headers: MutableMapping[str, Any]) -> None:
    """Add the current ids/trace to a message's headers, keeping what the sender already set."""
    for key, value in capture().items():
        headers.setdefault(key, value)


def _header(request: Any, key: str) -> str | None:
    value = getattr(request, key, None)
    if value is None:
        value = (getattr(request, "headers", None) or {}).get(key)
    return str(value) if value else None


def headers_of(request: Any) -> dict[str, str]:
    """The propagation headers of a Celery task request (custom headers are request attributes)."""
    out = {}
    for key in (REQUEST_ID_HEADER, JOB_ID_HEADER, "traceparent", "tracestate"):
        value = _header(request, key)
        if value:
            out[key] = value
    return out


def enter(request: Any) -> list[tuple[contextvars.ContextVar[str | None], contextvars.Token[Any]]]:
    headers = headers_of(request)
    return [
        (logs.request_id, logs.request_id.set(headers.get(REQUEST_ID_HEADER))),
        (logs.job_id, logs.job_id.set(headers.get(JOB_ID_HEADER))),
    ]


def leave(
    tokens: list[tuple[contextvars.ContextVar[str | None], contextvars.Token[Any]]],
) -> None:
    for var, token in reversed(tokens):
        try:
            var.reset(token)
        except ValueError:  # set in another context (should not happen): just clear it
            var.set(None)
