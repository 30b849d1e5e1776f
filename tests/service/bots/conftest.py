"""Fixtures for the bot adapters: one Services (fake LLM, real Chroma and embedder) with a
small knowledge base, a real PNG, and helpers to run ASGI apps under uvicorn on loopback."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from assistant.config import Settings
from assistant.services import Services
from tests.support.bots import CANNED, EIFFEL_MD, TENANT, RecordingDispatch
from tests.support.settings import TEST_KEY

# discord.py 2.7 imports the stdlib `audioop` (deprecated in 3.11, gone in 3.13) for voice,
# which the bot never uses; import it once here with that one warning silenced, as warnings
# are errors in this project.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="'audioop' is deprecated", category=DeprecationWarning
    )
    with contextlib.suppress(ImportError):  # the bots extra may not be installed
        import discord  # noqa: F401


@pytest.fixture(scope="session")
def png_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def bot_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    data_dir: Path = tmp_path_factory.mktemp("bots-data")
    settings = Settings(
        _env_file=None,
        storage={"data_dir": data_dir},
        api={"api_keys": [SecretStr(TEST_KEY)]},
        plugins={"allow": ["vision"]},  # registered (cheap); encoding is RecordingDispatch
        llm={"provider": "fake", "fake_responses": [CANNED]},
    )
    services = Services.build(settings, dispatch=RecordingDispatch())
    services.ingestor.ingest_bytes(TENANT, "eiffel.md", EIFFEL_MD.encode(), "text/markdown")
    yield services
