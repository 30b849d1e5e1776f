"""URL fetching cannot reach our own network: every spelling of a private address, names that
resolve to one, redirects to one, and DNS answers that change between check and connect.

Only loopback is ever contacted: a guard fails the test if a connection is attempted to any
other address, and "public" names are made with in-process resolver patches, never real DNS.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

import assistant.net as net
from assistant.errors import InvalidRequest
from tests.support.apps import app_client, app_settings, chat_body
from tests.support.media import png_bytes
from tests.support.net import fake_dns
from tests.support.settings import TEST_KEY

LOOPBACK = {"127.0.0.1", "127.0.0.2"}
PNG = png_bytes()


class Server:
    """A loopback HTTP server: /img.png, /redirect?to=URL, anything else 404; counts hits."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, body: bytes = PNG) -> None:
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits.append(self.path)
                if self.path.startswith("/redirect?to="):
                    self.send_response(302)
                    self.send_header("Location", self.path.removeprefix("/redirect?to="))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                ok = self.path.startswith("/img")
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body) if ok else 0))
                self.end_headers()
                if ok:
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.port = int(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every host the fetcher connects to; anything but loopback fails the test at once."""
    seen: list[str] = []
    original = httpx.AsyncClient.send

    async def guarded(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> Any:
        host = request.url.host
        seen.append(host)
        assert host in LOOPBACK, f"a fetch tried to connect to {host}"
        return await original(self, request, **kw)

    monkeypatch.setattr(httpx.AsyncClient, "send", guarded)
    return seen


async def fetch(url: str) -> net.Fetched:
    return await net.fetch_url(url, max_bytes=1 << 20, timeout=5, max_redirects=3)


def targets(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/img.png",
        f"http://127.1:{port}/img.png",
        f"http://[::1]:{port}/img.png",
        f"http://localhost:{port}/img.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://10.0.0.1/",
        "http://10.255.255.254:8080/",
        "http://172.16.0.1/",
        "http://172.31.255.255/",
        "http://192.168.0.1/",
        "http://192.168.255.255/",
        f"http://0.0.0.0:{port}/img.png",
        f"http://0:{port}/img.png",
        "http://[::]/",
        f"http://[::ffff:127.0.0.1]:{port}/img.png",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:a00:1]/",
        # IPv4 embedded in IPv6 other than mapped: compatible, translated, NAT64, 6to4, Teredo
        f"http://[::7f00:1]:{port}/img.png",
        f"http://[::ffff:0:7f00:1]:{port}/img.png",
        f"http://[64:ff9b::7f00:1]:{port}/img.png",
        "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
        "http://[64:ff9b:1::a9fe:a9fe]/",
        f"http://[2002:7f00:1::]:{port}/img.png",
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
        f"http://2130706433:{port}/img.png",
        f"http://0177.0.0.1:{port}/img.png",
        f"http://0x7f.1:{port}/img.png",
        f"http://0x7f000001:{port}/img.png",
        "http://100.64.0.1/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        "http://255.255.255.255/",
    ]


async def test_private_and_local_targets_are_refused_before_connecting(
    server: Server, connections: list[str]
) -> None:
    before = len(server.hits)
    for url in targets(server.port):
        with pytest.raises(InvalidRequest):
            await fetch(url)
    assert connections == [] and server.hits[before:] == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/x",
        "gopher://127.0.0.1:70/",
        "http://user:pw@example.com/",
        "http:///x",
        f"http://{'a' * 64}.example.com/x.png",  # a label over 63 characters (IDNA)
        "http://[::1/x",
        "http://example.com:99999/",
    ],
)
async def test_other_schemes_credentials_and_empty_hosts_are_refused(url: str) -> None:
    with pytest.raises(InvalidRequest):
        await fetch(url)


async def test_a_public_looking_name_for_a_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, server: Server, connections: list[str]
) -> None:
    before = len(server.hits)
    fake_dns(
        monkeypatch,
        {
            "images.example.com": [["127.0.0.1"]],
            "mixed.example.com": [["93.184.216.34", "10.1.2.3"]],  # one bad answer is enough
            "meta.example.com": [["::ffff:169.254.169.254"]],
        },
    )
    for host in ("images.example.com", "mixed.example.com", "meta.example.com"):
        with pytest.raises(InvalidRequest, match="private or local"):
            await fetch(f"http://{host}:{server.port}/img.png")
    assert connections == [] and server.hits[before:] == []


def _pretend_public(monkeypatch: pytest.MonkeyPatch, host: str, port: int) -> None:
    """``host`` on ``port`` counts as a public site served by 127.0.0.1 (and only that)."""
    real = net.resolve_public

    async def resolve(name: str, p: int, allow_private: bool = False) -> str:
        if name == host and p == port:
            return "127.0.0.1"
        return await real(name, p, allow_private)

    monkeypatch.setattr(net, "resolve_public", resolve)


async def test_redirects_to_private_addresses_are_refused(
    monkeypatch: pytest.MonkeyPatch, server: Server
) -> None:
    inner = Server()  # the "internal service" the redirect points at
    try:
        _pretend_public(monkeypatch, "cdn.example.test", server.port)
        start = f"http://cdn.example.test:{server.port}/redirect?to="
        # control: a redirect to a public place is followed
        fetched = await fetch(start + f"http://cdn.example.test:{server.port}/img.png")
        assert fetched.data == PNG
        fake_dns(monkeypatch, {"internal.example.com": [["127.0.0.1"]]})
        for target in [
            f"http://127.0.0.1:{inner.port}/img.png",
            f"http://localhost:{inner.port}/img.png",
            f"http://[::1]:{inner.port}/img.png",
            f"http://2130706433:{inner.port}/img.png",
            f"http://internal.example.com:{inner.port}/img.png",
            "http://169.254.169.254/latest/meta-data/iam/",
            "http://10.0.0.5/admin",
            "http://192.168.1.1/",
            "file:///etc/passwd",
        ]:
            with pytest.raises(InvalidRequest):
                await fetch(start + target)
        assert inner.hits == []
    finally:
        inner.close()


async def test_redirect_loops_stop(monkeypatch: pytest.MonkeyPatch, server: Server) -> None:
    _pretend_public(monkeypatch, "loop.example.test", server.port)
    url = f"http://loop.example.test:{server.port}/redirect?to=/redirect?to=/redirect?to=/redirect?to=/redirect?to=/img.png"
    with pytest.raises(InvalidRequest, match="redirected more than"):
        await fetch(url)


def _bind_pair() -> tuple[Server, Server]:
    """Servers on 127.0.0.2 ("public") and 127.0.0.1 ("internal") on the same port."""
    for _ in range(20):
        public = Server("127.0.0.2", 0, body=b"public content")
        try:
            internal = Server("127.0.0.1", public.port, body=b"internal secret")
        except OSError:
            public.close()
            continue
        return public, internal
    raise OSError("could not bind 127.0.0.1 and 127.0.0.2 on one port in 20 tries")


async def test_dns_rebinding_cannot_swap_in_a_private_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The resolver says public (127.0.0.2 stands in for it) first, private after: the fetch
    connects to the address that was checked and never asks the resolver again."""
    public, internal = _bind_pair()  # loopback is all of 127.0.0.0/8 on Linux
    try:
        real_is_public = net.is_public_address
        monkeypatch.setattr(
            net, "is_public_address", lambda a: a == "127.0.0.2" or real_is_public(a)
        )
        calls = fake_dns(monkeypatch, {"rebind.example.test": [["127.0.0.2"], ["127.0.0.1"]]})
        fetched = await fetch(f"http://rebind.example.test:{public.port}/img.png")
        assert fetched.data == b"public content"
        assert calls["rebind.example.test"] == 1
        assert internal.hits == []
        # and if the private answer comes first, nothing is fetched at all
        calls = fake_dns(monkeypatch, {"rebind2.example.test": [["127.0.0.1"], ["127.0.0.2"]]})
        with pytest.raises(InvalidRequest):
            await fetch(f"http://rebind2.example.test:{public.port}/img.png")
        assert internal.hits == []
    finally:
        public.close()
        internal.close()


def test_image_urls_in_chat_are_refused_through_the_api(tmp_path: Any, server: Server) -> None:
    auth = {"Authorization": f"Bearer {TEST_KEY}"}
    before = len(server.hits)
    with app_client(app_settings(tmp_path)) as client:
        for url in (
            f"http://127.0.0.1:{server.port}/img.png",
            f"http://[::ffff:127.0.0.1]:{server.port}/img.png",
            "http://169.254.169.254/latest/meta-data/",
            f"http://0x7f.1:{server.port}/img.png",
        ):
            content = [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": url}},
            ]
            r = client.post("/v1/chat/completions", json=chat_body(content), headers=auth)
            assert r.status_code == 400, r.text
            assert "private or local" in r.json()["error"]["message"]
    assert server.hits[before:] == []


def test_the_fetch_guard_really_is_async_safe() -> None:
    # the resolver patch above relies on loop.getaddrinfo calling socket.getaddrinfo
    loop = asyncio.new_event_loop()
    try:
        infos = loop.run_until_complete(loop.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM))
    finally:
        loop.close()
    assert infos[0][4][0] == "127.0.0.1"
