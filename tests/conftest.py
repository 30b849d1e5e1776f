"""Shared fixtures. Nothing here may reach a model hub."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ.setdefault("LLM_USER_PATH", "/tmp/assistant-llm-user")

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from assistant.config import Settings

TEST_KEY = "sk-test-key-0123456789"


def _clear_env() -> None:
    for name in list(os.environ):
        if name.startswith("ASSISTANT_"):
            del os.environ[name]


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings rooted in a temporary folder, with a known API key; overrides by group."""

    def make(**groups: Any) -> Settings:
        _clear_env()
        data: dict[str, Any] = {
            "storage": {"data_dir": tmp_path / "data"},
            "api": {"api_keys": [SecretStr(TEST_KEY)]},
            "plugins": {"allow": []},
        }
        for group, values in groups.items():
            if isinstance(values, dict):
                data.setdefault(group, {}).update(values)
            else:
                data[group] = values
        return Settings(**data)

    return make


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TEST_KEY}"}


@pytest.fixture(autouse=True)
def _no_assistant_env() -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.startswith("ASSISTANT_")}
    yield
    _clear_env()
    os.environ.update(saved)
