"""Fetching URLs that users hand us, without letting them reach our own network (SSRF).

Every hop (the first URL and each redirect) is resolved first; if any address the name resolves
to is not a global unicast address (private, loopback, link-local such as the cloud metadata
address 169.254.169.254, multicast, reserved, IPv4-mapped forms of those), the fetch is refused.
The connection then goes to the checked address itself, so a second DNS answer cannot swap in
another one (no rebinding window); TLS still verifies the certificate for the original name.
Decimal and octal spellings (http://2130706433/, http://0177.0.0.1/) resolve like any other
name and are refused the same way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from assistant.errors import InvalidRequest, PayloadTooLarge, UnprocessableMedia


@dataclass
class Fetched:
    data: bytes
    content_type: str | None
    url: str


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_LOW32 = (
    ipaddress.ip_network("::/96"),  # IPv4-compatible (deprecated, still routed by some stacks)
    ipaddress.ip_network("::ffff:0:0:0/96"),  # IPv4-translated (RFC 2765)
    *_NAT64,  # a NAT64 gateway forwards these to the IPv4 address in the low 32 bits
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address an IPv6 address carries: mapped, compatible, translated, NAT64,
    6to4 and Teredo (server and client)."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if (
        any(ip in net for net in _LOW32)
        and int(ip) & 0xFFFFFFFF
        and ip != ipaddress.IPv6Address("::1")
    ):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded:
            return all(is_public_address(str(v4)) for v4 in embedded)
        if any(ip in net for net in _LOW32):  # "::", or a NAT64 prefix with nothing after it
            return False
    return bool(ip.is_global) and not ip.is_multicast


async def resolve_public(host: str, port: int, allow_private: bool = False) -> str:
    """Resolve ``host``; return one address if all of them are public, else refuse."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidRequest(f"the host {host!r} could not be resolved") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise InvalidRequest(f"the host {host!r} could not be resolved")
    if not allow_private:
        for address in addresses:
            if not is_public_address(address):
                raise InvalidRequest(
                    f"refusing to fetch {host!r}: it points at a private or local address"
                )
    return addresses[0]


def _split(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed [ of an IPv6 literal
        raise InvalidRequest(f"the URL {url!r} is malformed: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise InvalidRequest(f"only http and https URLs can be fetched, not {parts.scheme!r}")
    if parts.username or parts.password:
        raise InvalidRequest("URLs with credentials are not fetched")
    try:
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:  # a port that is not a number, or out of range
        raise InvalidRequest(f"the URL {url!r} has an invalid port") from exc
    if not host:
        raise InvalidRequest(f"the URL {url!r} has no host")
    try:
        host.encode("idna")  # what the resolver will do: labels of 1-63 characters
    except UnicodeError as exc:
        raise InvalidRequest(
            f"the URL's host name is not valid ({exc}): each label must be 1-63 characters"
        ) from exc
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, host, port, path


async def send_pinned(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    allow_private: bool = False,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    stream: bool = False,
) -> httpx.Response:
    """Send one request to the address ``url``'s host resolved to, after checking it.

    The name is resolved once (``resolve_public``); the connection goes to that address, with
    the original name in the Host header and as the TLS server name (SNI and certificate
    check), so a second DNS answer cannot send it elsewhere. Redirects are never followed here:
    the caller sees the 3xx and decides (``fetch_url`` checks each hop again). The client must
    be built with ``follow_redirects=False`` and ``trust_env=False`` (no proxy that would
    resolve the name itself). Raises InvalidRequest for a refused URL, httpx errors as they are.
    """
    scheme, host, port, path = _split(url)
    address = await resolve_public(host, port, allow_private)
    literal = f"[{address}]" if ":" in address else address
    default_port = port == (443 if scheme == "https" else 80)
    request = client.build_request(
        method,
        f"{scheme}://{literal}:{port}{path}",
        headers={**(headers or {}), "Host": host if default_port else f"{host}:{port}"},
        content=content,
        extensions={"sni_hostname": host} if scheme == "https" else {},
    )
    return await client.send(request, stream=stream, follow_redirects=False)


async def fetch_url(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    max_redirects: int = 3,
    allow_private: bool = False,
) -> Fetched:
    async with httpx.AsyncClient(
        follow_redirects=False, trust_env=False, timeout=timeout
    ) as client:
        for _ in range(max_redirects + 1):
            try:
                response = await send_pinned(
                    client,
                    "GET",
                    url,
                    allow_private=allow_private,
                    headers={"User-Agent": "assistant-fetch/1"},
                    stream=True,
                )
            except httpx.HTTPError as exc:
                raise UnprocessableMedia(f"fetching {url} failed: {type(exc).__name__}") from exc
            try:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    url = urljoin(url, location)
                    continue
                if response.status_code >= 400:
                    raise UnprocessableMedia(
                        f"fetching {url} failed with HTTP {response.status_code}"
                    )
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise PayloadTooLarge(f"{url} is larger than the limit of {max_bytes} bytes")
                data = bytearray()
                async for piece in response.aiter_bytes():
                    data.extend(piece)
                    if len(data) > max_bytes:
                        raise PayloadTooLarge(
                            f"{url} is larger than the limit of {max_bytes} bytes"
                        )
                return Fetched(bytes(data), response.headers.get("content-type"), url)
            finally:
                await response.aclose()
    raise InvalidRequest(f"{url} redirected more than {max_redirects} times")
