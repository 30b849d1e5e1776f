"""Job webhooks connect to the address that was checked (no DNS-rebinding window), never follow
redirects, and never reveal their secret.

"Public" names are made with in-process resolver patches; a guard on ``httpx.AsyncClient.send``
records where each request would connect and answers for public addresses itself, so nothing
leaves loopback.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from assistant.jobs import webhook
from assistant.jobs.models import Job
from tests.support.net import fake_dns

SECRET = "whsec-pinning-0123456789"
PUBLIC = "93.184.216.34"


class Receiver:
    """127.0.0.1: POST /hook records the request; POST /moved redirects to /hook."""

    def __init__(self) -> None:
        self.hits: list[tuple[str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.hits.append((self.path, dict(self.headers.items()), body))
                if self.path == "/moved":
                    self.send_response(307)
                    self.send_header("Location", "/hook")
                else:
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[httpx.Request]:
    """Requests to non-loopback hosts are recorded and answered 204 here, never sent."""
    seen: list[httpx.Request] = []
    original = httpx.AsyncClient.send

    async def guarded(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> Any:
        seen.append(request)
        if request.url.host in {"127.0.0.1", "::1"}:
            return await original(self, request, **kw)
        return httpx.Response(204, request=request)

    monkeypatch.setattr(httpx.AsyncClient, "send", guarded)
    return seen


PAYLOAD = {"id": "job_1", "object": "job", "state": "succeeded"}


async def test_delivery_connects_to_the_checked_address_not_a_rebound_one(
    monkeypatch: pytest.MonkeyPatch, sent: list[httpx.Request]
) -> None:
    # first answer public, every later answer loopback: a rebinding name
    calls = fake_dns(monkeypatch, {"hooks.example": [[PUBLIC], ["127.0.0.1"]]})
    status = await webhook.deliver(
        "https://hooks.example/cb?x=1", SECRET, PAYLOAD, attempts=1, timeout=2
    )
    assert status == "delivered 204"
    assert calls["hooks.example"] == 1  # resolved once, for the one connection
    [request] = sent
    assert request.url.host == PUBLIC and request.url.port in (None, 443)
    assert request.url.raw_path == b"/cb?x=1"
    assert request.headers["host"] == "hooks.example"
    assert request.extensions["sni_hostname"] == "hooks.example"  # TLS checks the real name
    assert webhook.verify(
        SECRET,
        request.headers[webhook.TIMESTAMP_HEADER],
        request.content,
        request.headers[webhook.SIGNATURE_HEADER],
    )


async def test_a_name_that_rebinds_to_a_private_address_is_refused_on_retry(
    monkeypatch: pytest.MonkeyPatch, sent: list[httpx.Request]
) -> None:
    """Each attempt resolves and checks again; a retry cannot be steered inside."""
    fake_dns(monkeypatch, {"hooks.example": [[PUBLIC], ["10.0.0.7"]]})
    original = httpx.AsyncClient.send

    async def first_fails(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> Any:
        response = await original(self, request, **kw)  # the recording guard: 204
        return httpx.Response(503, request=request) if len(sent) == 1 else response

    monkeypatch.setattr(httpx.AsyncClient, "send", first_fails)
    status = await webhook.deliver(
        "http://hooks.example/cb", SECRET, PAYLOAD, attempts=3, max_wait_s=0.01
    )
    assert status.startswith("refused:") and "private" in status
    assert [r.url.host for r in sent] == [PUBLIC]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/cb",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/cb",
        "http://internal.example/cb",
        "file:///etc/passwd",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64 to the metadata service
        "http://[2002:7f00:1::]/cb",  # 6to4 of loopback
        f"http://{'x' * 64}.example/cb",  # not a valid host name (IDNA)
    ],
)
async def test_private_and_odd_urls_are_refused_without_a_connection(
    url: str, monkeypatch: pytest.MonkeyPatch, sent: list[httpx.Request]
) -> None:
    fake_dns(monkeypatch, {"internal.example": [["192.168.1.10"]]})
    status = await webhook.deliver(url, SECRET, PAYLOAD, attempts=1)
    assert status.startswith("refused:")
    assert sent == []


@pytest.mark.usefixtures("sent")
async def test_redirects_are_not_followed(receiver: Receiver) -> None:
    before = len(receiver.hits)
    status = await webhook.deliver(
        f"http://127.0.0.1:{receiver.port}/moved", SECRET, PAYLOAD, allow_private=True, attempts=1
    )
    assert status == "rejected 307"
    assert [h[0] for h in receiver.hits[before:]] == ["/moved"]


@pytest.mark.usefixtures("sent")
async def test_loopback_delivery_is_signed_and_carries_the_host(receiver: Receiver) -> None:
    before = len(receiver.hits)
    status = await webhook.deliver(
        f"http://127.0.0.1:{receiver.port}/hook", SECRET, PAYLOAD, allow_private=True, attempts=1
    )
    assert status == "delivered 204"
    [(path, headers, body)] = receiver.hits[before:]
    assert path == "/hook" and json.loads(body) == PAYLOAD
    assert headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert webhook.verify(
        SECRET, headers[webhook.TIMESTAMP_HEADER], body, headers[webhook.SIGNATURE_HEADER]
    )
    assert SECRET not in json.dumps(headers)


@pytest.mark.usefixtures("sent")
async def test_the_secret_is_never_returned_nor_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    job = Job(
        id="job_x",
        tenant="acme",
        kind="ingest",
        state="succeeded",
        webhook_url="https://hooks.example/cb",
        webhook_secret=SECRET,
        webhook_status="delivered 204",
    )
    assert SECRET not in json.dumps(job.public(), default=str)
    fake_dns(monkeypatch, {"hooks.example": [[PUBLIC]]})
    caplog.set_level(logging.DEBUG)
    original = httpx.AsyncClient.send

    async def failing(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> Any:
        await original(self, request, **kw)
        raise httpx.ConnectError("boom", request=request)

    monkeypatch.setattr(httpx.AsyncClient, "send", failing)
    status = await webhook.deliver(
        "https://hooks.example/cb", SECRET, job.public(), attempts=2, max_wait_s=0.01
    )
    assert status.startswith("failed after 2 attempts")
    assert SECRET not in status
    assert SECRET not in caplog.text
