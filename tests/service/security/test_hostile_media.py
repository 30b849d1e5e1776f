"""Bombs, archives, lying types and path tricks are refused quickly with a 4xx."""

from __future__ import annotations

import base64
import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.blobs import BlobRef, BlobStore
from tests.support.apps import app_client, app_settings, chat_body, services_of
from tests.support.media import bomb_png, build_pdf, pdf_bytes, png_bytes
from tests.support.settings import TEST_KEY

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = app_settings(
        tmp_path_factory.mktemp("hostile"), media={"max_pdf_pages": 50, "max_pdf_objects": 5000}
    )
    with app_client(settings) as c:
        yield c


def many_pages_pdf(kids: int, count: int | None = None) -> bytes:
    """A page tree whose /Kids names one page ``kids`` times (tiny file, huge page count)."""
    refs = b" ".join([b"3 0 R"] * kids)
    return build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [" + refs + b"] /Count %d >>" % (count or kids),
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>",
        ]
    )


def many_objects_pdf(n: int) -> bytes:
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] >>",
    ]
    objects += [b"<< /N %d >>" % i for i in range(n)]
    return build_pdf(objects)


def looping_pdf() -> bytes:
    return build_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>",
        ]
    )


@pytest.mark.parametrize(
    ("name", "make", "statuses"),
    [
        ("pages.pdf", lambda: many_pages_pdf(5_000), {413}),
        ("liar.pdf", lambda: many_pages_pdf(5_000, count=1), {413}),
        ("huge-kids.pdf", lambda: many_pages_pdf(300_000), {413, 422}),  # pypdf's array cap or ours
        ("objects.pdf", lambda: many_objects_pdf(20_000), {413}),
        ("loop.pdf", looping_pdf, {422}),
    ],
)
@pytest.mark.parametrize("route", ["/v1/files", "/v1/documents"])
def test_pdf_bombs_are_refused_fast(
    client: TestClient, route: str, name: str, make: object, statuses: set[int]
) -> None:
    data = make()  # type: ignore[operator]
    started = time.perf_counter()
    r = client.post(route, files={"file": (name, data, "application/pdf")}, headers=AUTH)
    elapsed = time.perf_counter() - started
    assert r.status_code in statuses, r.text
    assert elapsed < 10, f"{name} took {elapsed:.1f} s"


def test_a_normal_pdf_still_goes_in(client: TestClient) -> None:
    r = client.post("/v1/documents", files={"file": ("memo.pdf", pdf_bytes())}, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["chunks"] == 1


def test_image_bombs_are_413_on_every_route(client: TestClient, tmp_path: Path) -> None:
    bomb = bomb_png(tmp_path / "bomb.png").read_bytes()
    r = client.post("/v1/files", files={"file": ("bomb.png", bomb)}, headers=AUTH)
    assert r.status_code == 413, r.text
    r = client.post("/v1/documents", files={"file": ("bomb.png", bomb)}, headers=AUTH)
    assert r.status_code == 413, r.text
    url = "data:image/png;base64," + base64.b64encode(bomb).decode()
    content = [{"type": "text", "text": "what?"}, {"type": "image_url", "image_url": {"url": url}}]
    r = client.post("/v1/chat/completions", json=chat_body(content), headers=AUTH)
    assert r.status_code == 413, r.text


def _blob_files(client: TestClient) -> set[Path]:
    root = Path(services_of(client).blobs.root)
    return {p for p in root.rglob("*") if p.is_file()}


def test_refused_uploads_leave_no_blob_behind(client: TestClient, tmp_path: Path) -> None:
    bomb = bomb_png(tmp_path / "bomb.png").read_bytes()
    truncated = png_bytes((64, 64))[:60]  # a PNG header and nothing decodable
    before = _blob_files(client)
    for name, data, status in (("bomb.png", bomb, 413), ("cut.png", truncated, 422)):
        r = client.post("/v1/files", files={"file": (name, data)}, headers=AUTH)
        assert r.status_code == status, r.text
        url = "data:image/png;base64," + base64.b64encode(data).decode()
        content = [{"type": "text", "text": "?"}, {"type": "image_url", "image_url": {"url": url}}]
        r = client.post("/v1/chat/completions", json=chat_body(content), headers=AUTH)
        assert r.status_code == status, r.text
        r = client.post(
            "/v1/audio/transcriptions",
            files={"file": ("x.wav", b"RIFF\0\0\0\0WAVEfmt " + b"\0" * 40)},
            data={"model": "whisper-1"},
            headers=AUTH,
        )
        assert r.status_code in (415, 422), r.text
    assert _blob_files(client) == before
    accepted = client.post("/v1/files", files={"file": ("ok.png", png_bytes())}, headers=AUTH)
    assert accepted.status_code == 201 and len(_blob_files(client)) == len(before) + 1


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.txt", "A" * 5_000_000)  # a 5 MB member in a few KB
    return buffer.getvalue()


def test_archives_are_not_accepted_anywhere(client: TestClient) -> None:
    archive = _zip()
    for route in ("/v1/files", "/v1/documents"):
        for declared in ("application/zip", "text/plain", "application/pdf"):
            r = client.post(route, files={"file": ("notes.txt", archive, declared)}, headers=AUTH)
            assert r.status_code == 415, r.text
    part = {
        "type": "file",
        "file": {
            "file_data": "data:text/plain;base64," + base64.b64encode(archive).decode(),
            "filename": "a.txt",
        },
    }
    r = client.post(
        "/v1/chat/completions", json=chat_body([{"type": "text", "text": "x"}, part]), headers=AUTH
    )
    assert r.status_code == 415, r.text


def test_types_come_from_the_bytes_not_the_label(client: TestClient) -> None:
    r = client.post(
        "/v1/files", files={"file": ("notes.txt", png_bytes(), "text/plain")}, headers=AUTH
    )
    assert r.status_code == 201 and r.json()["media_type"] == "image/png"
    html = b"<!doctype html><html><body><script>alert(1)</script>hi</body></html>"
    r = client.post("/v1/files", files={"file": ("cat.png", html, "image/png")}, headers=AUTH)
    assert r.status_code == 201 and r.json()["media_type"] == "text/html"
    # a data URL that says image but holds a PDF is handled as the PDF it is (documents plugin)
    url = "data:image/png;base64," + base64.b64encode(pdf_bytes()).decode()
    content = [{"type": "text", "text": "what?"}, {"type": "image_url", "image_url": {"url": url}}]
    r = client.post("/v1/chat/completions", json=chat_body(content), headers=AUTH)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "name",
    [
        "../../etc/passwd",
        "..\\..\\windows\\system32\\x.png",
        "/abs/path.png",
        "a/../../b.png",
        "....//x.png",
        "\x00evil.png",
        "." * 300,
    ],
)
def test_upload_names_never_become_paths(client: TestClient, name: str) -> None:
    r = client.post("/v1/files", files={"file": (name, png_bytes())}, headers=AUTH)
    assert r.status_code == 201, r.text
    stored = r.json()
    assert "/" not in stored["filename"] and "\\" not in stored["filename"]
    assert not stored["filename"].startswith(".")
    services = client.app.state.services  # type: ignore[attr-defined]
    row = services.db.get_file("default", stored["id"])
    assert row.blob_key.startswith("default/") and ".." not in row.blob_key


@pytest.mark.parametrize(
    "key",
    [
        "../default/" + "0" * 64,
        "default/../../etc/passwd",
        "/etc/passwd",
        "default/" + "0" * 63 + "/",
        "default/x.png",
        "a/b/" + "0" * 64,
    ],
)
def test_blob_keys_are_validated(tmp_path: Path, key: str) -> None:
    store = BlobStore(str(tmp_path / "blobs"))
    with pytest.raises(ValueError):
        store.read_bytes(BlobRef(key=key, sha256="0" * 64, size=1))
    with pytest.raises(ValueError):
        store.put_bytes("../x", b"data")


@pytest.mark.parametrize(
    "file_id", ["../../etc/passwd", "file_x/../../y", "%2e%2e%2fetc", "a" * 5000]
)
def test_odd_ids_are_plain_404s(client: TestClient, file_id: str) -> None:
    for route in ("/v1/files/", "/v1/documents/", "/v1/conversations/"):
        r = client.get(route + file_id, headers=AUTH)
        assert r.status_code == 404, (route, r.text)
