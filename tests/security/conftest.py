"""Security tests: hostile input, tenant isolation, limits, SSRF, audit.

Apps here run the fake (or a recording) chat model, the cheap `documents` plugin and the
test-only encoders of ``tests.security.cheap_plugin``; only loopback is ever contacted.
"""

from __future__ import annotations

import asyncio
import io
import math
import os
import struct
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field, SecretStr

from assistant.api.app import create_app
from assistant.config import Settings
from assistant.keys import KeyStore
from assistant.services import Services
from tests.conftest import TEST_KEY

MODEL = "smollm2-135m-instruct"
CHEAP_PLUGIN = "tests.security.cheap_plugin"
CLIENT_ERRORS = {400, 401, 403, 404, 409, 413, 415, 422, 429}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/security/" in str(item.fspath):
            item.add_marker(pytest.mark.security)
            item.add_marker(pytest.mark.integration)


def build_settings(root: Path, **groups: Any) -> Settings:
    """Settings under ``root``: fake LLM, cheap encoders, in-process, limits off unless given."""
    for name in [n for n in os.environ if n.startswith("ASSISTANT_")]:
        del os.environ[name]
    data: dict[str, Any] = {
        "storage": {"data_dir": root / "data"},
        "api": {
            "api_keys": [SecretStr(TEST_KEY)],
            "rate_limit_per_minute": 0,
            "max_concurrent_requests": 0,
        },
        "llm": {"provider": "fake", "fake_responses": ["A test answer [1]."]},
        "plugins": {"allow": ["documents"]},
        "workers": {"in_process": True, "plugin_modules": [CHEAP_PLUGIN]},
    }
    for group, values in groups.items():
        if isinstance(values, dict):
            data.setdefault(group, {}).update(values)
        else:
            data[group] = values
    return Settings(**data)


@contextmanager
def app_client(settings: Settings, llm: BaseChatModel | None = None) -> Iterator[TestClient]:
    services = Services.build(settings)
    if llm is not None:
        services.llm = llm
        services.orchestrator.llm = llm
    with TestClient(create_app(services=services), raise_server_exceptions=False) as client:
        yield client


def services_of(client: TestClient) -> Services:
    return client.app.state.services  # type: ignore[attr-defined]


def new_key(client: TestClient, tenant: str, admin: bool = False) -> dict[str, str]:
    store: KeyStore = services_of(client).security.key_store
    _, token = store.create(tenant, name=f"{tenant} test key", admin=admin)
    return {"Authorization": f"Bearer {token}"}


def chat_body(content: Any = "What is in the notes?", **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], **extra}


class RecordingChatModel(BaseChatModel):
    """Answers with a fixed reply and keeps every prompt it was given."""

    reply: str = "Recorded [1]."
    delay_s: float = 0.0
    prompts: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        self.prompts.append(list(messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.reply))])

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self._generate(messages, stop, run_manager, **kw)


# --- valid media to start from ----------------------------------------------------------------


def png_bytes(size: tuple[int, int] = (16, 12), color: str = "red") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (24, 16), "blue").save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def wav_bytes(seconds: float = 0.25, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))
        )
        w.writeframes(frames)
    return buffer.getvalue()


def mp4_bytes(tmp: Path) -> bytes:
    from PIL import Image

    from tests.media_fixtures import make_video

    path = make_video(tmp / "clip.mp4", [(Image.new("RGB", (64, 48), "green"), 0.5)], size=(64, 48))
    return path.read_bytes()


def pdf_bytes(text: str = "The meeting is on Tuesday.") -> bytes:
    """A one-page PDF with real text (written by hand: pypdf cannot add text)."""
    stream = f"BT /F1 12 Tf 20 100 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return build_pdf(objects)


def build_pdf(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@pytest.fixture(scope="session")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    tmp = tmp_path_factory.mktemp("seeds")
    return {
        "png": png_bytes(),
        "jpeg": jpeg_bytes(),
        "wav": wav_bytes(),
        "mp4": mp4_bytes(tmp),
        "pdf": pdf_bytes(),
        "md": b"# Notes\n\nThe meeting is on Tuesday at noon.\n",
        "html": b"<!doctype html><html><body><p>Hello <b>world</b></p></body></html>",
    }
