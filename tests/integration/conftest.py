"""Integration fixtures: real Chroma, real packaged models, a real server on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_KEY

EIFFEL_PAGE = """<!doctype html>
<html><head><title>The Eiffel Tower</title></head><body>
<h1>The Eiffel Tower</h1>
<p>The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France.
It is named after the engineer Gustave Eiffel, whose company designed and built the tower
from 1887 to 1889.</p>
<p>The Eiffel Tower is 330 metres tall. It was the tallest man-made structure in the world
until the Chrysler Building in New York City was finished in 1930.</p>
<p>The tower has three levels for visitors, with restaurants on the first and second levels.</p>
</body></html>
"""

HONEY_NOTE = """# Bees

Honey bees store honey in wax combs. A strong colony can hold about 60,000 bees in summer.
The queen bee lays up to 2,000 eggs per day during the spring build-up.
"""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(
    url: str, timeout: float = 120.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} was not ready within {timeout} s")


@pytest.fixture(scope="session")
def kb_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kb")
    (folder / "eiffel.html").write_text(EIFFEL_PAGE)
    (folder / "bees.md").write_text(HONEY_NOTE)
    return folder


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(
        {
            "ASSISTANT_STORAGE__DATA_DIR": str(data_dir),
            "ASSISTANT_API__API_KEYS": f'["{TEST_KEY}"]',
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            **extra,
        }
    )
    return env


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, kb_files: Path) -> Iterator[str]:
    """`assistant ingest` then `assistant serve`, as a user would run them."""
    data_dir = tmp_path_factory.mktemp("server-data")
    env = server_env(data_dir, ASSISTANT_WORKERS__IN_PROCESS="true")
    cli = [sys.executable, "-m", "assistant.cli"]
    subprocess.run([*cli, "ingest", str(kb_files)], env=env, check=True, timeout=300)
    port = free_port()
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [*cli, "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/readyz", proc=proc)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
