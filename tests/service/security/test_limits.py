"""Per-key rate and concurrency limits (429 + Retry-After), in process and in Redis; size limits
answer 413 on every way in (multipart, data URLs, base64 audio, URL fetches)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.api.app import create_app
from assistant.embedded import EmbeddedRedis
from assistant.errors import RateLimited
from assistant.ratelimit import KeyLimiter, Limits
from assistant.services import Services
from tests.support.apps import RecordingChatModel, app_client, app_settings, chat_body, new_key
from tests.support.media import png_bytes, wav_bytes
from tests.support.settings import TEST_KEY

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}


def test_rate_limit_answers_429_with_retry_after_per_key(tmp_path: Path) -> None:
    settings = app_settings(tmp_path, api={"rate_limit_per_minute": 6, "rate_limit_burst": 3})
    with app_client(settings) as client:
        codes = [client.get("/v1/models", headers=AUTH).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        r = client.get("/v1/models", headers=AUTH)
        assert r.status_code == 429
        assert r.json()["error"]["type"] == "rate_limit_error"
        retry = int(r.headers["Retry-After"])
        assert 1 <= retry <= 10
        # another key has its own bucket
        other = new_key(client, "acme")
        assert client.get("/v1/models", headers=other).status_code == 200
        # unauthenticated requests are refused before any bucket is touched
        assert client.get("/v1/models").status_code == 401


async def test_concurrency_limit_refuses_extra_requests_in_flight(tmp_path: Path) -> None:
    settings = app_settings(tmp_path, api={"max_concurrent_requests": 2})
    services = Services.build(settings)
    slow = RecordingChatModel(delay_s=0.6)
    services.llm = services.orchestrator.llm = slow
    app = create_app(services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=AUTH) as c:
        results = await asyncio.gather(
            *(c.post("/v1/chat/completions", json=chat_body("hi")) for _ in range(5))
        )
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 200, 429, 429, 429], codes
        refused = next(r for r in results if r.status_code == 429)
        assert refused.headers["Retry-After"] == "1"
        # slots come back when the responses finish, streamed ones included
        streamed = await c.post("/v1/chat/completions", json=chat_body("hi", stream=True))
        assert streamed.status_code == 200 and streamed.text.rstrip().endswith("[DONE]")
        again = await asyncio.gather(
            *(c.post("/v1/chat/completions", json=chat_body("hi")) for _ in range(2))
        )
        assert [r.status_code for r in again] == [200, 200]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    url = server.start()
    yield url
    server.stop()


def test_redis_limits_are_shared_between_processes(redis_url: str) -> None:
    limits = Limits(per_minute=60, burst=3, concurrent=2)
    first, second = KeyLimiter(limits, redis_url), KeyLimiter(limits, redis_url)
    try:
        for limiter in (first, second, first):
            limiter.acquire("key_shared_rate", concurrent=False)
        with pytest.raises(RateLimited) as refused:
            second.acquire("key_shared_rate", concurrent=False)
        assert 0 < refused.value.retry_after <= 2
        assert first._redis is not None  # really went through Redis

        slow = Limits(per_minute=0, concurrent=2)
        a, b = KeyLimiter(slow, redis_url), KeyLimiter(slow, redis_url)
        release_one = a.acquire("key_shared_slots")
        b.acquire("key_shared_slots")
        with pytest.raises(RateLimited):
            a.acquire("key_shared_slots")
        release_one()
        b.acquire("key_shared_slots")  # a slot freed in one process is free in the other
    finally:
        first.close()
        second.close()


def test_limits_fall_back_to_this_process_when_redis_is_gone(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    url = server.start()
    server.stop()
    limiter = KeyLimiter(Limits(per_minute=60, burst=2), url)
    limiter.acquire("key_fallback")
    limiter.acquire("key_fallback")
    with pytest.raises(RateLimited):
        limiter.acquire("key_fallback")


def test_the_api_uses_redis_when_a_url_is_set(tmp_path: Path, redis_url: str) -> None:
    settings = app_settings(
        tmp_path,
        api={"rate_limit_per_minute": 60, "rate_limit_burst": 2},
        workers={"redis_url": redis_url, "in_process": True},
    )
    with app_client(settings) as client:
        other = new_key(client, "redis-tenant")
        assert [client.get("/v1/models", headers=other).status_code for _ in range(3)] == [
            200,
            200,
            429,
        ]
        limiter = client.app.state.services.security.limiter  # type: ignore[attr-defined]
        assert limiter._redis is not None


# --- 413 on every way in --------------------------------------------------------------------


class BigServer:
    """Serves /declared (honest Content-Length) and /chunked (no length) bodies of n bytes."""

    def __init__(self, n: int) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                # the fetcher hangs up at its limit, as it should
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._send()

            def _send(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                if self.path == "/declared":
                    self.send_header("Content-Length", str(n))
                    self.end_headers()
                    self.wfile.write(png_bytes() + b"\0" * (n - len(png_bytes())))
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                sent = 0
                while sent < n:
                    piece = b"\0" * 4096
                    self.wfile.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
                    sent += len(piece)
                self.wfile.write(b"0\r\n\r\n")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def test_oversize_inputs_are_413_everywhere(tmp_path: Path) -> None:
    big = BigServer(300_000)
    settings = app_settings(
        tmp_path,
        api={"max_body_bytes": 400_000, "max_attachments": 2, "max_message_chars": 5_000},
        media={"max_file_bytes": 100_000, "url_max_bytes": 100_000, "url_allow_private": True},
    )
    blob = b"x" * 150_000
    b64 = base64.b64encode(b"\0" * 150_000).decode()

    def check(r: Any) -> None:
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "payload_too_large"

    with app_client(settings) as client:
        # multipart: over the file limit, and over the whole-body limit
        check(client.post("/v1/files", files={"file": ("a.txt", blob)}, headers=AUTH))
        check(client.post("/v1/documents", files={"file": ("a.txt", blob)}, headers=AUTH))
        check(client.post("/v1/files", files={"file": ("a.txt", b"x" * 500_000)}, headers=AUTH))
        # data URLs and base64 audio
        for part in (
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64}"}},
            {"type": "input_audio", "input_audio": {"data": b64, "format": "wav"}},
            {
                "type": "file",
                "file": {"file_data": f"data:application/pdf;base64,{b64}", "filename": "a.pdf"},
            },
            {"type": "image_url", "image_url": {"url": f"{big.base}/declared"}},
            {"type": "image_url", "image_url": {"url": f"{big.base}/chunked"}},
        ):
            content = [{"type": "text", "text": "look"}, part]
            check(client.post("/v1/chat/completions", json=chat_body(content), headers=AUTH))
        # counts and lengths
        wav = base64.b64encode(wav_bytes()).decode()
        parts = [{"type": "input_audio", "input_audio": {"data": wav, "format": "wav"}}] * 3
        check(
            client.post(
                "/v1/chat/completions",
                json=chat_body([{"type": "text", "text": "x"}, *parts]),
                headers=AUTH,
            )
        )
        check(client.post("/v1/chat/completions", json=chat_body("y" * 6_000), headers=AUTH))
        r = client.post(
            "/v1/chat/completions", json=chat_body("hi", max_tokens=10**6), headers=AUTH
        )
        assert r.status_code == 400 and r.json()["error"]["param"] == "max_tokens"
        # and the server is still fine
        assert (
            client.post("/v1/chat/completions", json=chat_body("hi"), headers=AUTH).status_code
            == 200
        )
    big.httpd.shutdown()
    big.httpd.server_close()
