"""Helpers for the bot adapters: a real uvicorn server in a thread, the knowledge they answer
from, and a dispatch that records what it was asked to encode (no weights loaded)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import uvicorn

from assistant.plugins.contract import Encoding, MediaItem, Modality
from tests.support.procs import free_port, wait_for

T = TypeVar("T")

CANNED = "The Eiffel Tower is 330 metres tall [1]."
TENANT = "bots"
EIFFEL_MD = """# The Eiffel Tower

The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France.
The Eiffel Tower is 330 metres tall. It was built from 1887 to 1889.
"""


def eventually(predicate: Callable[[], T], timeout: float = 20.0, interval: float = 0.05) -> T:
    """The predicate's first truthy value; fails the test if none comes within ``timeout``."""
    value = wait_for(predicate, timeout, interval)
    assert value, f"condition not met within {timeout} s"
    return value


class ServerThread:
    """An ASGI app under a real uvicorn server on 127.0.0.1, in a daemon thread."""

    def __init__(self, app: Any):
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


class RecordingDispatch:
    """Stands in for the encoders (no weights loaded): records what it was asked to encode."""

    def __init__(self) -> None:
        self.items: list[MediaItem] = []

    async def encode(
        self,
        tenant: str,  # noqa: ARG002 - the EncodeDispatch protocol
        items: Sequence[MediaItem],
        options: Any = None,  # noqa: ARG002 - the EncodeDispatch protocol
    ) -> list[Encoding | BaseException]:
        self.items.extend(items)
        return [
            Encoding(
                encoder="fake-vision",
                version="0",
                modality=Modality.IMAGE,
                text=f"labels: red rectangle ({item.media_type})",
            )
            for item in items
        ]

    async def revoke(self, task_ids: Sequence[str]) -> None:
        """Nothing runs elsewhere."""

    async def ready(self) -> None:
        """Always ready."""

    async def refresh_metrics(self) -> None:
        """No queues."""

    async def aclose(self) -> None:
        """Nothing to close."""
