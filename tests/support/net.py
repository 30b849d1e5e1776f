"""Network doubles for tests: a resolver that answers what a test says (DNS rebinding)."""

from __future__ import annotations

import socket
from typing import Any

import pytest


def fake_dns(
    monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[list[str]]]
) -> dict[str, int]:
    """Resolve the given names to the given addresses (one list per successive lookup)."""
    calls: dict[str, int] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in answers:
            return real(host, port, *args, **kw)
        n = calls.get(name, 0)
        calls[name] = n + 1
        addresses = answers[name][min(n, len(answers[name]) - 1)]
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, int(port or 0), 0, 0) if ":" in a else (a, int(port or 0)),
            )
            for a in addresses
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)  # loop.getaddrinfo calls this
    return calls
