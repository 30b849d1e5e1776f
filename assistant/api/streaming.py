"""Server-sent events, as every streaming route sends them."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse


def event_stream(events: AsyncIterator[str]) -> StreamingResponse:
    """SSE frames as they come: no caching, and no buffering by a proxy in front (nginx)."""
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
