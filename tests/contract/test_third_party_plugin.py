"""A plugin in a folder of its own, outside this repository: ``examples/hello_plugin`` is copied
to a temporary folder and installed from there. It brings a media type the core does not know,
its own settings and typed options; it passes the shipped contract suite from its own folder,
and a file of its type is answered through the chat API."""

from __future__ import annotations

import base64
import importlib
import importlib.metadata
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from assistant.api.app import create_app
from assistant.config import Settings
from assistant.plugins.registry import build_registry
from assistant.services import Services
from tests.support.settings import TEST_KEY

pytestmark = [pytest.mark.contract, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": f"Bearer {TEST_KEY}"}


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", *args], check=True, timeout=300)


@pytest.fixture(scope="module")
def plugin_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example plugin as its own repository, installed from there for this module."""
    repo = tmp_path_factory.mktemp("third-party") / "hello_plugin"
    shutil.copytree(
        ROOT / "examples" / "hello_plugin",
        repo,
        ignore=shutil.ignore_patterns("build", "*.egg-info"),
    )
    try:
        importlib.metadata.distribution("assistant-hello-plugin")
        preinstalled = True
    except importlib.metadata.PackageNotFoundError:
        preinstalled = False
    # --no-deps: its one dependency, the assistant, is this checkout (installed editable)
    pip(
        "install", "--no-deps", "--no-build-isolation", "--no-index", "--force-reinstall", str(repo)
    )
    importlib.invalidate_caches()
    yield repo
    if not preinstalled:
        pip("uninstall", "-y", "assistant-hello-plugin")
    sys.modules.pop("hello_plugin", None)


def test_it_passes_the_shipped_contract_from_its_own_folder(plugin_repo: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:asyncio",
            "-W",
            "error",
        ],
        cwd=plugin_repo,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout


@pytest.mark.usefixtures("plugin_repo")
def test_it_is_discovered_and_owns_its_media_type() -> None:
    names = {ep.name for ep in importlib.metadata.entry_points(group="assistant.plugins")}
    assert "hello" in names
    registry = build_registry(allow=["hello"])
    assert set(registry.encoders) == {"hello"}  # the allowlist keeps the others out
    assert registry.encoder_for("text/x-hello").name == "hello"
    assert registry.sniff(b"HELLO world", "application/octet-stream") == "text/x-hello"


def _chat(client: TestClient, data: bytes, filename: str, declared: str) -> dict[str, object]:
    url = f"data:{declared};base64,{base64.b64encode(data).decode()}"
    body = {
        "model": "smollm2-135m-instruct",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this file?"},
                    {"type": "file", "file": {"file_data": url, "filename": filename}},
                ],
            }
        ],
    }
    response = client.post("/v1/chat/completions", json=body, headers=AUTH)
    return {"status": response.status_code, **response.json()}


@pytest.mark.usefixtures("plugin_repo")
def test_its_media_type_is_answered_through_the_chat_api(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,
        storage={"data_dir": tmp_path / "data"},
        api={"api_keys": [SecretStr(TEST_KEY)]},
        plugins={"allow": ["hello"]},
        workers={"in_process": True},
        llm={"provider": "fake", "fake_responses": ["It greets [1]."] * 3},
    )
    with TestClient(create_app(services=Services.build(settings))) as client:
        answered = _chat(client, b"HELLO one two three", "greet.hello", "application/octet-stream")
        assert answered["status"] == 200, answered
        citations = answered["citations"]
        assert isinstance(citations, list)
        [citation] = citations
        assert citation["kind"] == "attachment"
        assert "hello: greet.hello has 3 words" in citation["snippet"]
        # bytes that are not its format are sniffed as what they are, and refused by name
        refused = _chat(client, b"just some words", "plain.hello", "text/x-hello")
        assert refused["status"] == 415, refused
        assert "text/x-hello" in refused["error"]["message"]  # type: ignore[index]
