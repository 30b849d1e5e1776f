"""`assistant serve`'s HTTP server limits: an oversized header block is refused before it is
held, without a key, and the server goes on serving; a request head or body trickled slowly
is cut off with a 408 (slowloris)."""

from __future__ import annotations

import contextlib
import socket
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.procs import free_port, spawn, stop, wait_ready
from tests.support.settings import child_env

pytestmark = [pytest.mark.slow, pytest.mark.security]


@pytest.mark.parametrize("size", [200_000, 4_000_000])
def test_an_oversized_header_is_refused(live_server: str, size: int) -> None:
    try:
        r = httpx.get(f"{live_server}/healthz", headers={"X-Big": "a" * size}, timeout=30)
        assert r.status_code in (400, 431), r.status_code
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
        pass  # or it closes the connection on the oversized header (h11 answers 400, then resets)
    assert httpx.get(f"{live_server}/healthz", timeout=10).json() == {"status": "ok"}


def test_a_normal_header_block_is_served(live_server: str) -> None:
    r = httpx.get(f"{live_server}/healthz", headers={"X-Ok": "a" * 8_000}, timeout=10)
    assert r.status_code == 200


@pytest.fixture(scope="module")
def hurried_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`assistant serve` with a 1 s deadline for request heads and 1 s for body pauses."""
    data_dir = tmp_path_factory.mktemp("hurried")
    env = child_env(
        data_dir,
        ASSISTANT_WORKERS__IN_PROCESS="true",
        ASSISTANT_LLM__PROVIDER="fake",
        ASSISTANT_API__HEADER_TIMEOUT_S="1",
        ASSISTANT_API__BODY_IDLE_TIMEOUT_S="1",
    )
    port = free_port()
    cli = [sys.executable, "-m", "assistant.cli", "serve", "--port", str(port)]
    proc = spawn(cli, env, data_dir / "server.log")
    try:
        wait_ready(f"http://127.0.0.1:{port}/healthz", proc=proc)
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc)


def _trickle(address: str, chunks: list[bytes], pause_s: float) -> tuple[bytes, float]:
    """Send ``chunks`` with pauses; what the server answered and after how long."""
    host, port = address.split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        try:
            for chunk in chunks:
                conn.sendall(chunk)
                time.sleep(pause_s)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed on us: the point
        answer = b""
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            while part := conn.recv(65536):
                answer += part
    return answer, time.monotonic() - started


def test_a_slow_request_head_is_cut_off(hurried_server: str) -> None:
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: a\r\n" * 20 + b"\r\n"
    answer, took = _trickle(hurried_server, [head[i : i + 8] for i in range(0, len(head), 8)], 0.3)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert took < 10  # not the whole 30 s of trickling
    assert httpx.get(f"http://{hurried_server}/healthz", timeout=10).status_code == 200


def test_a_kept_alive_connection_gets_the_same_deadline(hurried_server: str) -> None:
    first = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    second = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: a\r\n" * 20 + b"\r\n"
    answer, _ = _trickle(
        hurried_server, [first, *[second[i : i + 8] for i in range(0, len(second), 8)]], 0.3
    )
    assert answer.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 408" in answer, answer[:400]


def test_a_paused_body_gets_408_and_a_prompt_one_is_served(hurried_server: str) -> None:
    body = b'{"model": "smollm2-135m-instruct", "messages": []}'
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    answer, took = _trickle(hurried_server, [head, body[:10], b"", body[10:]], 2.5)
    assert b" 408 " in answer.split(b"\r\n", 1)[0], answer[:300]
    assert b"paused for more than 1 s" in answer
    assert took < 15
    served, _ = _trickle(hurried_server, [head + body], 0.0)
    assert served.split(b"\r\n", 1)[0].split()[1] in (b"400", b"401"), served[:300]
