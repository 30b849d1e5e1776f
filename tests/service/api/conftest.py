"""API service fixtures: real Chroma, real packaged models, a real server on loopback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from tests.support.procs import free_port, spawn, stop, wait_ready
from tests.support.settings import TEST_KEY, child_env

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


@pytest.fixture(scope="session")
def kb_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("kb")
    (folder / "eiffel.html").write_text(EIFFEL_PAGE)
    (folder / "bees.md").write_text(HONEY_NOTE)
    return folder


@pytest.fixture(scope="session")
def sdk(live_server: str) -> OpenAI:
    """The official OpenAI SDK, pointed at the live server."""
    return OpenAI(base_url=f"{live_server}/v1", api_key=TEST_KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, kb_files: Path) -> Iterator[str]:
    """`assistant ingest` then `assistant serve`, as a user would run them."""
    data_dir = tmp_path_factory.mktemp("server-data")
    env = child_env(data_dir, ASSISTANT_WORKERS__IN_PROCESS="true")
    cli = [sys.executable, "-m", "assistant.cli"]
    subprocess.run([*cli, "ingest", str(kb_files)], env=env, check=True, timeout=300)
    port = free_port()
    proc = spawn([*cli, "serve", "--port", str(port)], env, data_dir / "server.log")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/readyz", proc=proc)
        yield base
    finally:
        stop(proc)
