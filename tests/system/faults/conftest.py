"""Fault tests: real processes on loopback, faults injected while traffic keeps flowing."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from assistant.embedded import EmbeddedRedis
from tests.support.procs import free_port
from tests.support.stack import Stack


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("faults")
    s = Stack(root, EmbeddedRedis(root / "data", port=free_port()), free_port(), free_port())
    s.redis.start()
    try:
        s.start_chroma()
        s.start_worker()
        s.start_api()
        s.wait_worker()
        yield s
    finally:
        for name in ("api", "worker", "chroma"):
            s.kill(name, signal.SIGTERM)
        s.redis.stop()
