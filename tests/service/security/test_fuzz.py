"""Hypothesis fuzzing: malformed media and payloads made from valid ones by truncation, bit
flips, byte insertions and header swaps, sent through POST /v1/files, /v1/documents and chat
attachments. Each is refused with a 4xx or accepted; never a 5xx; the server keeps answering."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.apps import CLIENT_ERRORS, app_client, app_settings, chat_body
from tests.support.settings import MODEL, TEST_KEY

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
HEADERS = {
    "png": b"\x89PNG\r\n\x1a\n",
    "jpeg": b"\xff\xd8\xff\xe0",
    "wav": b"RIFF\x00\x00\x00\x00WAVE",
    "mp4": b"\x00\x00\x00\x18ftypisom",
    "pdf": b"%PDF-1.7\n",
    "gif": b"GIF89a",
    "webm": b"\x1a\x45\xdf\xa3",
    "ogg": b"OggS",
    "zip": b"PK\x03\x04",
}
DECLARED = [
    "image/png",
    "image/jpeg",
    "audio/wav",
    "video/mp4",
    "application/pdf",
    "text/plain",
    None,
]
FUZZ = settings(
    max_examples=90,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings_ = app_settings(
        tmp_path_factory.mktemp("fuzz"),
        media={"max_image_pixels": 4_000_000, "max_pdf_pages": 50},
        api={"max_body_bytes": 2_000_000},
    )
    with app_client(settings_) as c:
        yield c


@st.composite
def mutated(draw: st.DrawFn, seeds: dict[str, bytes]) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(sorted(seeds)))
    data = bytearray(seeds[kind])
    for op in draw(
        st.lists(
            st.sampled_from(["cut", "flip", "insert", "swap", "zero", "dup"]),
            min_size=1,
            max_size=4,
        )
    ):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if op == "cut":
            data = data[: draw(st.integers(0, len(data)))]
        elif op == "flip":
            for _ in range(draw(st.integers(1, 16))):
                i = draw(st.integers(0, len(data) - 1))
                data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif op == "swap":
            header = HEADERS[draw(st.sampled_from(sorted(HEADERS)))]
            data[: len(header)] = header
        elif op == "zero":
            end = min(len(data), at + draw(st.integers(1, 256)))
            data[at:end] = b"\x00" * (end - at)
        elif op == "dup":
            data += data[at : at + draw(st.integers(1, 4096))]
    return kind, bytes(data)


def _ok(r: Any, *accepted: int) -> None:
    assert r.status_code < 500, r.text
    assert r.status_code in {*accepted, *CLIENT_ERRORS}, r.text
    if r.status_code >= 400:
        error = r.json()["error"]
        assert error["message"] and "/tmp" not in error["message"]


def test_fuzzed_uploads_to_files(client: TestClient, seeds: dict[str, bytes]) -> None:
    @FUZZ
    @given(mutated(seeds), st.sampled_from(DECLARED), st.text(max_size=40))
    def run(sample: tuple[str, bytes], declared: str | None, name: str) -> None:
        kind, data = sample
        upload = (
            (name or f"x.{kind}", data)
            if declared is None
            else (name or f"x.{kind}", data, declared)
        )
        _ok(client.post("/v1/files", files={"file": upload}, headers=AUTH), 201)

    run()
    assert client.get("/healthz").status_code == 200


def test_fuzzed_uploads_to_documents(client: TestClient, seeds: dict[str, bytes]) -> None:
    @FUZZ
    @given(mutated(seeds), st.sampled_from(DECLARED))
    def run(sample: tuple[str, bytes], declared: str | None) -> None:
        kind, data = sample
        upload = (f"doc.{kind}", data) if declared is None else (f"doc.{kind}", data, declared)
        _ok(client.post("/v1/documents", files={"file": upload}, headers=AUTH), 201)

    run()
    assert client.get("/v1/documents", headers=AUTH).status_code == 200


def _part(kind: str, data: bytes, how: str, declared: str | None) -> dict[str, Any]:
    b64 = base64.b64encode(data).decode()
    if how == "audio":
        return {"type": "input_audio", "input_audio": {"data": b64, "format": kind}}
    if how == "file":
        return {
            "type": "file",
            "file": {
                "file_data": f"data:{declared or 'application/octet-stream'};base64,{b64}",
                "filename": f"f.{kind}",
            },
        }
    return {
        "type": "image_url",
        "image_url": {"url": f"data:{declared or 'image/png'};base64,{b64}"},
    }


def test_fuzzed_chat_attachments(client: TestClient, seeds: dict[str, bytes]) -> None:
    @FUZZ
    @given(mutated(seeds), st.sampled_from(["image", "audio", "file"]), st.sampled_from(DECLARED))
    def run(sample: tuple[str, bytes], how: str, declared: str | None) -> None:
        kind, data = sample
        content = [{"type": "text", "text": "what is this?"}, _part(kind, data, how, declared)]
        _ok(client.post("/v1/chat/completions", json=chat_body(content), headers=AUTH), 200)

    run()
    ok = client.post("/v1/chat/completions", json=chat_body("still there?"), headers=AUTH)
    assert ok.status_code == 200


VALID_BODIES = [
    chat_body("hello"),
    chat_body("hi", stream=True, temperature=0.2, max_tokens=20),
    {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        ],
    },
    chat_body(
        [
            {"type": "text", "text": "x"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        ]
    ),
    chat_body("x", conversation_id="conv_123", stream_options={"include_usage": True}),
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def test_fuzzed_json_chat_bodies(client: TestClient) -> None:
    raw = [json.dumps(b).encode() for b in VALID_BODIES]

    @FUZZ
    @given(st.sampled_from(raw), st.sampled_from(["cut", "flip", "insert", "dup"]), st.data())
    def bytes_level(body: bytes, op: str, data: st.DataObject) -> None:
        b = bytearray(body)
        at = data.draw(st.integers(0, len(b) - 1))
        if op == "cut":
            b = b[:at]
        elif op == "flip":
            b[at] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "insert":
            b[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            b += b[at:]
        r = client.post(
            "/v1/chat/completions",
            content=bytes(b),
            headers={**AUTH, "content-type": "application/json"},
        )
        _ok(r, 200)

    @FUZZ
    @given(st.sampled_from(VALID_BODIES), st.data())
    def structure_level(body: dict[str, Any], data: st.DataObject) -> None:
        body = json.loads(json.dumps(body))
        path = data.draw(
            st.sampled_from(
                [
                    "model",
                    "messages",
                    "stream",
                    "temperature",
                    "max_tokens",
                    "messages.0",
                    "messages.0.content",
                    "messages.0.role",
                    "conversation_id",
                    "extra",
                ]
            )
        )
        target: Any = body
        parts = path.split(".")
        for p in parts[:-1]:
            target = target[int(p)] if isinstance(target, list) else target[p]
        last = parts[-1]
        value = data.draw(json_values)
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
        _ok(client.post("/v1/chat/completions", json=body, headers=AUTH), 200)

    bytes_level()
    structure_level()


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"model": "' + b"m" * 1_000_000 + b'"}',
        b'{"model": "x", "messages": ['
        + b'{"role":"user","content":"a"},' * 20_000
        + b'{"role":"user","content":"a"}]}',
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b"\xff\xfe\x00\x00",
        b"",
        b"null",
        b'"just a string"',
    ],
)
def test_pathological_json_is_a_4xx(client: TestClient, body: bytes) -> None:
    r = client.post(
        "/v1/chat/completions", content=body, headers={**AUTH, "content-type": "application/json"}
    )
    _ok(r)


def test_over_long_names_and_fields(client: TestClient, seeds: dict[str, bytes]) -> None:
    r = client.post(
        "/v1/files", files={"file": ("n" * 20_000 + ".png", seeds["png"])}, headers=AUTH
    )
    _ok(r, 201)
    if r.status_code == 201:
        assert len(r.json()["filename"]) <= 200
    r = client.post(
        "/v1/files",
        files={"file": ("a.png", seeds["png"])},
        data={"purpose": "p" * 10_000},
        headers=AUTH,
    )
    _ok(r)
    r = client.post(
        "/v1/documents",
        files={"file": ("a.md", seeds["md"])},
        data={"source": "s" * 50_000},
        headers=AUTH,
    )
    _ok(r, 201)
    r = client.post("/v1/conversations", json={"title": "t" * 100_000}, headers=AUTH)
    _ok(r, 201)
    r = client.post(
        "/v1/chat/completions", json=chat_body("hi", conversation_id="c" * 100_000), headers=AUTH
    )
    _ok(r)
    r = client.get("/v1/files/" + "f" * 50_000, headers=AUTH)
    _ok(r)
    r = client.get("/v1/models", headers={"Authorization": "Bearer " + "k" * 60_000})
    _ok(r)
    assert client.get("/healthz").status_code == 200
