"""The HTTP server's protocol: uvicorn's h11 with a deadline for the request head.

uvicorn times out idle keep-alive connections but not a client that sends its request line and
headers slowly (slowloris): each such connection is held for as long as it trickles. Here a
connection that has not sent a whole request head within ``api.header_timeout_s`` of connecting,
or of the end of its previous response, gets a 408 and is closed. (Slow bodies are timed by
``BodySizeLimit``, in the app.)
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

_TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\nconnection: close\r\n"
    b"content-length: 34\r\n\r\nthe request head came too slowly\r\n"
)


def guarded_h11(header_timeout_s: float) -> type[asyncio.Protocol]:
    """An h11 protocol class whose request heads must arrive within ``header_timeout_s``."""

    class HeadDeadlineH11Protocol(H11Protocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._head_timer: asyncio.TimerHandle | None = None

        def _awaiting_head(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _arm(self) -> None:
            if self._head_timer is None and self._awaiting_head():
                self._head_timer = self.loop.call_later(header_timeout_s, self._head_timed_out)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self._awaiting_head() and not self.transport.is_closing():
                self.transport.write(_TIMED_OUT)
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            self._arm()  # a kept-alive connection starting its next request head
            super().data_received(data)
            if not self._awaiting_head():
                self._disarm()  # the head is in: the app has the request now

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeadDeadlineH11Protocol
