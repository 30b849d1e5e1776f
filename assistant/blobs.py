"""The blob store: media travels by reference, never inside a queue message.

A local folder by default; any fsspec URL (``s3://bucket/prefix``, ``gcs://...``) when workers
run on other machines. Blobs are content-addressed per tenant: ``{tenant}/{sha256}{suffix}``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        if not self.fs.exists(path):
            if self.local:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=Path(path).parent, prefix=".part-")
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)  # atomic: a reader never sees half a blob
            else:
                with self.fs.open(path, "wb") as f:
                    f.write(data)
        return BlobRef(key=key, sha256=digest, size=len(data))

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

    def cleanup(self, older_than_s: float) -> int:
        """Delete blobs older than the retention; returns how many were removed."""
        cutoff = time.time() - older_than_s
        removed = 0
        for path in self.fs.find(self.root):
            try:
                modified = self.fs.modified(path).timestamp()
            except (NotImplementedError, FileNotFoundError):
                continue
            if modified < cutoff:
                self.fs.rm(path)
                removed += 1
        if self.local:
            shutil.rmtree(self.cache_dir, ignore_errors=True)
        return removed
