"""The blob store: media travels by reference, never inside a queue message.

A local folder by default; any fsspec URL (``s3://bucket/prefix``, ``gcs://...``) when workers
run on other machines. Blobs are content-addressed per tenant: ``{tenant}/{sha256}{suffix}``.

What points at a blob: an uploaded file's row, a media document's row (its original, served by
``GET /v1/documents/{id}/content``). Everything else is staged for a while (a chat attachment
on its way to the encoders, a rendition on its way back): ``sweep`` deletes what nothing points
at once it is older than a grace period, and storing bytes again renews their age.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_TENANT = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_KEY = re.compile(r"^[A-Za-z0-9_-]{1,128}/[0-9a-f]{64}(\.[a-z0-9]{1,8})?$")


def blob_key(tenant: str, sha256: str, suffix: str = "") -> str:
    """Where a tenant's bytes of this digest live (an odd suffix is left off)."""
    suffix = suffix.lower() if re.fullmatch(r"\.[a-z0-9]{1,8}", suffix.lower()) else ""
    return f"{tenant}/{sha256}{suffix}"


@dataclass(frozen=True)
class BlobRef:
    key: str  # "{tenant}/{sha256}{suffix}"
    sha256: str
    size: int

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "sha256": self.sha256, "size": self.size}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BlobRef:
        return cls(key=str(data["key"]), sha256=str(data["sha256"]), size=int(data["size"]))


class BlobStore:
    def __init__(self, url: str, cache_dir: Path | None = None) -> None:
        import fsspec

        self.url = url.rstrip("/")
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.local = self.fs.protocol in ("file", ("file", "local")) or "file" in self.fs.protocol
        if self.local:
            Path(self.root).mkdir(parents=True, exist_ok=True)
        self.cache_dir = cache_dir or Path(tempfile.gettempdir()) / "assistant-blob-cache"

    @staticmethod
    def _check_key(key: str) -> str:
        # keys come from messages; a crafted key must never escape the store
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a blob key: {key!r}")
        return key

    def _path(self, key: str) -> str:
        return f"{self.root}/{self._check_key(key)}"

    def put_bytes(self, tenant: str, data: bytes, suffix: str = "") -> BlobRef:
        if not _TENANT.fullmatch(tenant):
            raise ValueError(f"not a tenant name: {tenant!r}")
        digest = hashlib.sha256(data).hexdigest()
        key = blob_key(tenant, digest, suffix)
        path = self._path(key)
        ref = BlobRef(key=key, sha256=digest, size=len(data))
        if not self.local:  # written again even when present: a remote store has no touch
            with self.fs.open(path, "wb") as f:
                f.write(data)
            return ref
        try:
            os.utime(path)  # staged again: its grace period starts over (see sweep)
            return ref
        except FileNotFoundError:
            pass
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=Path(path).parent, prefix=".part-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)  # atomic: a reader never sees half a blob
        return ref

    def local_path(self, ref: BlobRef) -> Path:
        """A local file with the blob's bytes (downloaded into a cache for remote stores)."""
        path = self._path(ref.key)
        if self.local:
            if not Path(path).exists():
                raise FileNotFoundError(f"blob {ref.key} is missing")
            return Path(path)
        target = self.cache_dir / ref.key
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            self.fs.get(path, str(tmp))
            os.replace(tmp, target)
        return target

    def read_bytes(self, ref: BlobRef) -> bytes:
        return bytes(self.fs.cat_file(self._path(ref.key)))

    def exists(self, ref: BlobRef) -> bool:
        return bool(self.fs.exists(self._path(ref.key)))

    def delete(self, ref: BlobRef) -> None:
        path = self._path(ref.key)
        if self.fs.exists(path):
            self.fs.rm(path)

    def _modified(self, path: str) -> float | None:
        try:
            return float(self.fs.modified(path).timestamp())
        except (NotImplementedError, FileNotFoundError, OSError):
            return None

    def _files(self) -> Iterator[tuple[str, str]]:
        """(path, path relative to the root) of every file in the store."""
        prefix = self.root.rstrip("/") + "/"
        for found in self.fs.find(self.root):
            path = str(found)
            yield path, path[len(prefix) :] if path.startswith(prefix) else path

    def keys(self) -> Iterator[str]:
        """Every blob's key (staging leftovers, ``.part-`` files, are not blobs)."""
        return (key for _, key in self._files() if _KEY.fullmatch(key))

    def sweep(self, referenced: Collection[str], older_than_s: float) -> tuple[int, int]:
        """Delete the blobs nothing points at (``referenced``: keys) that are older than
        ``older_than_s``, and staging leftovers as old; returns (blobs removed, bytes freed).

        A blob's age is read again just before it goes, so bytes staged again meanwhile stay."""
        cutoff = time.time() - older_than_s
        removed = freed = 0
        for path, key in self._files():
            leftover = Path(key).name.startswith(".part-")
            if (not leftover and not _KEY.fullmatch(key)) or key in referenced:
                continue
            modified = self._modified(path)
            if modified is None or modified >= cutoff:
                continue
            try:
                size = int(self.fs.size(path))
                if (self._modified(path) or cutoff) >= cutoff:
                    continue
                self.fs.rm(path)
            except FileNotFoundError:
                continue
            if not leftover:
                removed, freed = removed + 1, freed + size
        if not self.local and self.cache_dir.exists():  # local copies of remote blobs
            for cached in self.cache_dir.rglob("*"):
                if cached.is_file() and cached.stat().st_mtime < cutoff:
                    cached.unlink(missing_ok=True)
        return removed, freed


async def sweep_forever(
    blobs: BlobStore, referenced: Callable[[], set[str]], grace_s: float, interval_s: float
) -> None:
    """``BlobStore.sweep`` every ``interval_s`` (the API's background task); a failed round is
    logged and tried again next time."""
    while True:
        try:
            keys = await asyncio.to_thread(referenced)
            removed, freed = await asyncio.to_thread(blobs.sweep, keys, grace_s)
            if removed:
                log.info("blob sweep: removed %d unreferenced blobs (%d bytes)", removed, freed)
        except Exception:
            log.exception("blob sweep failed; trying again in %.0f s", interval_s)
        await asyncio.sleep(interval_s)
