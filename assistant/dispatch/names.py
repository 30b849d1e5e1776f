"""Task, queue and header names shared by the API (which sends) and the workers (which consume).

Encoder queues are derived from what each encoder declares: ``{device}.{modality}``
(``cpu.audio``, ``cpu.image``, ``cpu.video``, ``cuda.video`` ...). ``cpu.text`` carries the
text-embedding batches of ingestion. Jobs themselves run in the API process (all Chroma
writes stay there); only their encode/embed steps travel through these queues.
"""

from __future__ import annotations

from collections.abc import Iterable

from assistant.plugins.registry import Registry

TASK_ENCODE = "assistant.encode"
TASK_EMBED = "assistant.embed"
TASK_PING = "assistant.ping"

TEXT_QUEUE = "cpu.text"

# a Redis hash per worker node, refreshed by its main process (see workers/startup.py)
HEARTBEAT_PREFIX = "assistant:worker:"
HEARTBEAT_TTL_S = 30
# the header every published task carries, read by /metrics for the oldest-message age
ENQUEUED_AT_HEADER = "assistant_enqueued_at"
# the caller's ids, carried to the worker's log lines (assistant/dispatch/propagation.py)
REQUEST_ID_HEADER = "assistant_request_id"
JOB_ID_HEADER = "assistant_job_id"


def encoder_queues(registry: Registry, device: str | None = None) -> list[str]:
    """The queues of the registered encoders (optionally only those of one device)."""
    queues = {e.queue for e in registry.encoders.values() if device in (None, e.device.value)}
    return sorted(queues)


def all_queues(registry: Registry, device: str | None = None) -> list[str]:
    queues = set(encoder_queues(registry, device))
    if device in (None, "cpu"):
        queues.add(TEXT_QUEUE)
    return sorted(queues)


def parse_queues(value: str | Iterable[str]) -> list[str]:
    parts = value.split(",") if isinstance(value, str) else list(value)
    return sorted({p.strip() for p in parts if p.strip()})
