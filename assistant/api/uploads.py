"""Multipart uploads, read the same way by every route that takes a file."""

from __future__ import annotations

from fastapi import UploadFile

from assistant.errors import PayloadTooLarge


def safe_name(name: str | None) -> str:
    """A display name with no path: uploads never choose where anything is written."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    return base[:200] or "upload"


async def read_upload(file: UploadFile, limit: int) -> tuple[bytes, str]:
    """The upload's bytes and safe display name; a 413 beyond ``limit`` bytes, read no further."""
    data = await file.read(limit + 1)
    name = safe_name(file.filename)
    if len(data) > limit:
        raise PayloadTooLarge(f"{name} is larger than the limit of {limit} bytes", param="file")
    return data, name
