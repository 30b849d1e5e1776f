"""The blob sweep deletes what nothing points at once it is old enough, and nothing else."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from assistant.blobs import BlobRef, BlobStore, blob_key
from assistant.store import Database, Document
from assistant.store import File as StoredFile

pytestmark = pytest.mark.unit

HOUR = 3600.0


def _age(store: BlobStore, ref: BlobRef, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(f"{store.root}/{ref.key}", (then, then))


def test_only_old_unreferenced_blobs_go(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "blobs"))
    kept = store.put_bytes("acme", b"an upload", ".png")
    orphan = store.put_bytes("acme", b"a staged attachment", ".png")
    fresh = store.put_bytes("acme", b"staged a moment ago", ".wav")
    for ref in (kept, orphan):
        _age(store, ref, 2 * HOUR)
    leftover = Path(store.root) / "acme" / ".part-crashed"
    leftover.write_bytes(b"half a blob")
    os.utime(leftover, (time.time() - 2 * HOUR,) * 2)

    removed, freed = store.sweep({kept.key}, older_than_s=HOUR)

    assert (removed, freed) == (1, len(b"a staged attachment"))
    assert sorted(store.keys()) == sorted([kept.key, fresh.key])
    assert not leftover.exists()


def test_staging_bytes_again_renews_their_grace(tmp_path: Path) -> None:
    store = BlobStore(str(tmp_path / "blobs"))
    ref = store.put_bytes("acme", b"the same photo twice", ".png")
    _age(store, ref, 2 * HOUR)
    assert store.put_bytes("acme", b"the same photo twice", ".png") == ref
    assert store.sweep(set(), older_than_s=HOUR) == (0, 0)
    assert store.exists(ref)


def test_uploads_and_media_documents_are_the_references(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    db.create_all()
    db.add_file(
        StoredFile(
            tenant="acme",
            filename="a.png",
            media_type="image/png",
            purpose="assistants",
            blob_key="acme/" + "a" * 64 + ".png",
            sha256="a" * 64,
            bytes=3,
        )
    )
    for doc_id, media_type, digest in (
        ("doc_video", "video/mp4", "b" * 64),
        ("doc_text", "text/markdown", "c" * 64),
    ):
        db.upsert_document(
            Document(
                id=doc_id,
                tenant="beta",
                source=doc_id,
                media_type=media_type,
                sha256=digest,
                chunks=1,
                bytes=3,
            )
        )
    assert db.referenced_blob_keys() == {
        "acme/" + "a" * 64 + ".png",
        blob_key("beta", "b" * 64, ".mp4"),  # a text document keeps chunks, not bytes
    }
