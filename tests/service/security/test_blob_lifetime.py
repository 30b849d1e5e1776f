"""Nothing rejected is kept, nothing referenced is lost: what every upload path leaves in the
blob store, and what the sweep takes away."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from assistant.services import Services
from tests.support.apps import app_client, app_settings, chat_body, services_of
from tests.support.media import png_bytes
from tests.support.settings import AUTH

pytestmark = pytest.mark.security


def _image_part(data: bytes) -> dict[str, object]:
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    return {"type": "image_url", "image_url": {"url": url}}


def _sweep(services: Services) -> int:
    removed, _ = services.blobs.sweep(services.db.referenced_blob_keys(), older_than_s=0)
    return removed


def _blobs(services: Services) -> set[str]:
    return set(services.blobs.keys())


def test_blobs_live_exactly_as_long_as_something_points_at_them(tmp_path: Path) -> None:
    settings = app_settings(tmp_path, storage={"blob_sweep_interval_s": 0})
    with app_client(settings) as c:
        services = services_of(c)
        upload, attachment, document = (
            png_bytes((64, 64), color) for color in ("red", "green", "blue")
        )

        for r in (  # refused on every path: nothing stored
            c.post("/v1/files", headers=AUTH, files={"file": ("cut.png", upload[:60])}),
            c.post("/v1/documents", headers=AUTH, files={"file": ("cut.png", upload[:60])}),
            c.post(
                "/v1/chat/completions",
                headers=AUTH,
                json=chat_body([{"type": "text", "text": "?"}, _image_part(upload[:60])]),
            ),
        ):
            assert r.status_code == 422, r.text
        assert _blobs(services) == set()

        file_id = c.post("/v1/files", headers=AUTH, files={"file": ("up.png", upload)}).json()["id"]
        chat = c.post(
            "/v1/chat/completions",
            headers=AUTH,
            json=chat_body([{"type": "text", "text": "What is it?"}, _image_part(attachment)]),
        )
        assert chat.status_code == 200, chat.text
        doc = c.post("/v1/documents", headers=AUTH, files={"file": ("doc.png", document)})
        assert doc.status_code == 201, doc.text
        doc_id = doc.json()["id"]
        assert len(_blobs(services)) == 3

        # the chat attachment was only staged: the sweep takes it, and only it
        assert _sweep(services) == 1
        assert _blobs(services) == services.db.referenced_blob_keys()
        assert c.get(f"/v1/files/{file_id}/content", headers=AUTH).content == upload

        # an upload of a document's bytes, deleted: the document still has its original
        twin = c.post("/v1/files", headers=AUTH, files={"file": ("twin.png", document)})
        assert c.delete(f"/v1/files/{twin.json()['id']}", headers=AUTH).status_code == 200
        content = c.get(f"/v1/documents/{doc_id}/content", headers=AUTH)
        assert content.status_code == 200 and content.content == document

        assert c.delete(f"/v1/files/{file_id}", headers=AUTH).status_code == 200
        assert c.delete(f"/v1/documents/{doc_id}", headers=AUTH).status_code == 200
        assert _sweep(services) == 1  # the deleted document's original
        assert _blobs(services) == set() == services.db.referenced_blob_keys()
