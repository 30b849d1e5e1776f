"""Shared fixtures. Nothing here may reach a model hub."""

from __future__ import annotations

import os
import sys

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"
os.environ.setdefault("LLM_USER_PATH", "/tmp/assistant-llm-user")

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.config import Settings
from tests.support.settings import TEST_KEY, build_settings, clear_assistant_env

# fixtures every tier may use, from the support package
pytest_plugins = ["tests.support.media_files"]

TIERS = ("unit", "contract", "service", "system")
# components, by the folder a test lives in below its tier
COMPONENTS = {
    "api": "api",
    "bots": "bots",
    "plugins": "plugins",
    "security": "security",
    "workers": "workers",
    "faults": "faults",
    "deploy": "deploy",
    "frontends": "frontends",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tier from the first folder under tests/, components from the folders below it."""
    root = Path(__file__).resolve().parent
    for item in items:
        parts = Path(str(item.fspath)).resolve().relative_to(root).parts[:-1]
        if parts and parts[0] in TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))
        for folder in parts[1:]:
            if folder in COMPONENTS:
                item.add_marker(getattr(pytest.mark, COMPONENTS[folder]))
        if parts and parts[0] == "system":
            item.add_marker(pytest.mark.slow)


def pytest_unconfigure(config: pytest.Config) -> None:  # noqa: ARG001 - pytest's hook signature
    """llama_cpp opens two /dev/null handles when imported and never closes them: closed here,
    so the interpreter's exit does not report them as unclosed files after every run."""
    utils = sys.modules.get("llama_cpp._utils")
    for name in ("outnull_file", "errnull_file"):
        handle = getattr(utils, name, None)
        if handle is not None:
            handle.close()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings rooted in a temporary folder, with a known API key; overrides by group."""

    def make(**groups: Any) -> Settings:
        return build_settings(tmp_path / "data", {"plugins": {"allow": []}}, **groups)

    return make


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TEST_KEY}"}


@pytest.fixture(autouse=True)
def _no_assistant_env() -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.startswith("ASSISTANT_")}
    yield
    clear_assistant_env()
    os.environ.update(saved)
