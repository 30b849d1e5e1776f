"""In-process apps for service tests: the real app and services over a fake or recording chat
model, the cheap ``documents`` plugin and the test-only encoders of ``plugins/cheap.py``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from assistant.api.app import create_app
from assistant.config import Settings
from assistant.keys import KeyStore
from assistant.services import Services
from tests.support.bots import ServerThread
from tests.support.settings import MODEL, build_settings
from tests.support.upstream import FakeUpstream

CHEAP_PLUGIN = "tests.support.plugins.cheap"
CLIENT_ERRORS = {400, 401, 403, 404, 409, 413, 415, 422, 429}


def app_settings(root: Path, **groups: Any) -> Settings:
    """Settings under ``root``: fake LLM, cheap encoders, in-process, limits off unless given."""
    base: dict[str, Any] = {
        "api": {"rate_limit_per_minute": 0, "max_concurrent_requests": 0},
        "llm": {"provider": "fake", "fake_responses": ["A test answer [1]."]},
        "plugins": {"allow": ["documents"]},
        "workers": {"in_process": True, "plugin_modules": [CHEAP_PLUGIN]},
    }
    return build_settings(root / "data", base, **groups)


@contextmanager
def app_client(settings: Settings, llm: BaseChatModel | None = None) -> Iterator[TestClient]:
    services = Services.build(settings)
    if llm is not None:
        services.llm = llm
        services.orchestrator.llm = llm
    with TestClient(create_app(services=services), raise_server_exceptions=False) as client:
        yield client


@contextmanager
def app_over_upstream(
    root: Path, llm: dict[str, Any], **groups: Any
) -> Iterator[tuple[TestClient, FakeUpstream]]:
    """The app with ``llm.provider=openai`` over a fake upstream of its own on loopback (each
    app its own: LangChain caches one HTTP client per upstream URL, and each TestClient runs
    its own event loop)."""
    upstream = FakeUpstream()
    with ServerThread(upstream.app()) as server:
        openai = {"provider": "openai", "base_url": f"{server.url}/v1", **llm}
        with app_client(app_settings(root, llm=openai, **groups)) as client:
            yield client, upstream


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
        self,
        messages: list[BaseMessage],
        stop: Any = None,  # noqa: ARG002 - the chat model interface
        run_manager: Any = None,  # noqa: ARG002 - the chat model interface
        **kw: Any,
    ) -> ChatResult:
        self.prompts.append(list(messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.reply))])

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return self._generate(messages, stop, run_manager, **kw)
