"""Fixtures for the bot adapters: one Services (fake LLM, real Chroma and embedder) with a
small knowledge base, a real PNG, and helpers to run ASGI apps under uvicorn on loopback."""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pydantic import SecretStr

from assistant.config import Settings
from assistant.plugins.contract import Encoding, MediaItem, Modality
from assistant.services import Services
from tests.conftest import TEST_KEY

# discord.py 2.7 imports the stdlib `audioop` (deprecated in 3.11, gone in 3.13) for voice,
# which the bot never uses; import it once here with that one warning silenced, as warnings
# are errors in this project.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="'audioop' is deprecated", category=DeprecationWarning
    )
    with contextlib.suppress(ImportError):  # the bots extra may not be installed
        import discord  # noqa: F401

CANNED = "The Eiffel Tower is 330 metres tall [1]."
TENANT = "bots"
EIFFEL_MD = """# The Eiffel Tower

The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France.
The Eiffel Tower is 330 metres tall. It was built from 1887 to 1889.
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/bots/" in str(item.fspath):
            item.add_marker(pytest.mark.bots)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


@pytest.fixture(scope="session")
def png_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


class RecordingDispatch:
    """Stands in for the encoders (no weights loaded): records what it was asked to encode."""

    def __init__(self) -> None:
        self.items: list[MediaItem] = []

    async def encode(
        self, tenant: str, items: Sequence[MediaItem]
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


@pytest.fixture(scope="session")
def bot_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    data_dir: Path = tmp_path_factory.mktemp("bots-data")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        storage={"data_dir": data_dir},
        api={"api_keys": [SecretStr(TEST_KEY)]},
        plugins={"allow": ["vision"]},  # registered (cheap); encoding is RecordingDispatch
        llm={"provider": "fake", "fake_responses": [CANNED]},
    )
    services = Services.build(settings, dispatch=RecordingDispatch())
    services.ingestor.ingest_bytes(TENANT, "eiffel.md", EIFFEL_MD.encode(), "text/markdown")
    yield services
