"""Who is calling: the principal every request and job runs as."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    tenant: str
    key_id: str
    admin: bool = False
