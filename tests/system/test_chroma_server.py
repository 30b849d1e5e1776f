"""Retrieval against a real Chroma server (`chroma run`) through HttpClient, as deployments do."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.retrieval.store import Chunk
from assistant.services import Services
from tests.support.procs import free_port, wait_ready


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import shutil
    import sys

    exe = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data / "chroma.log").open("wb")
    proc = subprocess.Popen(
        [exe, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{url}/api/v2/heartbeat", timeout=60, proc=proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_ingest_and_search_through_a_chroma_server(make_settings, chroma_url: str) -> None:
    settings = make_settings(llm={"provider": "fake"}, retrieval={"chroma_url": chroma_url})
    services = Services.build(settings)
    services.store.heartbeat()
    services.ingestor.ingest_bytes("acme", "eiffel.md", b"The Eiffel Tower is 330 metres tall.")
    services.ingestor.ingest_bytes("other", "bees.md", b"A colony holds 60,000 bees.")
    [hit] = services.store.search("acme", "height of the tower in Paris", 1)
    assert hit.metadata["source"] == "eiffel.md"
    # tenants are separate collections on the server too
    assert [h.metadata["source"] for h in services.store.search("other", "tower", 5)] == ["bees.md"]
    services.store.upsert(
        "acme", [Chunk("x:0", "extra", {"document_id": "x"})], [[0.0] * 383 + [1.0]]
    )
    assert services.store.count("acme") == 2
