"""The seams between the core and where encoders and embedders run.

``EncodeDispatch`` and ``Embedder`` have two implementations each: in this process
(``local.py``) and through Celery workers (``celery_dispatch.py``). The orchestrator, the ingest
path and the job runner see only these protocols; nothing in the core asks which one it has.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from assistant.plugins.contract import Encoding, MediaItem


class EncodeDispatch(Protocol):
    async def encode(
        self, tenant: str, items: Sequence[MediaItem], options: Mapping[str, Any] | None = None
    ) -> list[Encoding | BaseException]:
        """Encode a tenant's items; one Encoding or exception per item, in order.

        ``options`` go to every encoder involved (its ``Options`` model validates them), e.g.
        Whisper's ``language`` for a transcription request."""
        ...

    async def revoke(self, task_ids: Sequence[str]) -> None:
        """Stop tasks sent earlier (ids recorded by ``track_tasks``); a no-op in process."""
        ...

    async def ready(self) -> None:
        """Raise ``ServiceUnavailable`` when nothing could encode right now (readiness)."""
        ...

    async def refresh_metrics(self) -> None:
        """Bring the queue and worker gauges up to date (at scrape time)."""
        ...

    async def aclose(self) -> None:
        """Release connections; called once, by ``Services.aclose``."""
        ...


class Embedder(Protocol):
    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        ...


_sent: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "assistant_sent_tasks", default=None
)


@contextlib.contextmanager
def track_tasks() -> Iterator[list[str]]:
    """Collect the ids of the tasks sent inside this block (a job revokes them on cancel)."""
    sent: list[str] = []
    token = _sent.set(sent)
    try:
        yield sent
    finally:
        _sent.reset(token)


def task_sink() -> list[str] | None:
    """The list the current ``track_tasks`` block collects into, if any."""
    return _sent.get()
