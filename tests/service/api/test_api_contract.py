"""HTTP behaviour of the API with a real Chroma and embedder; the LLM is LangChain's fake
chat model here (answer content is covered by test_grounded_chat with the real model)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from assistant.api.app import create_app
from assistant.orchestrator.grounding import note
from assistant.services import Services
from tests.support.apps import chat_body

MODEL = "smollm2-135m-instruct"
REPLY = "The tower is 330 metres tall [1]."


@pytest.fixture
def client(make_settings) -> Iterator[TestClient]:
    settings = make_settings(
        llm={"provider": "fake", "fake_responses": [REPLY]},
        api={"max_body_bytes": 200_000, "max_messages": 5},
    )
    services = Services.build(settings)
    with TestClient(create_app(services=services), raise_server_exceptions=False) as c:
        yield c


def _chat(client: TestClient, auth: dict[str, str], **body: object):
    payload = {"model": MODEL, "messages": [{"role": "user", "content": "How tall?"}], **body}
    return client.post("/v1/chat/completions", json=payload, headers=auth)


def _assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if code:
        assert error["code"] == code
    return error


def test_missing_and_wrong_keys_are_401(client: TestClient) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    _assert_error(client.post("/v1/chat/completions", json=body), 401, "missing_api_key")
    wrong = {"Authorization": "Bearer sk-nope"}
    error = _assert_error(client.post("/v1/chat/completions", json=body, headers=wrong), 401)
    assert error["type"] == "authentication_error"
    _assert_error(client.get("/v1/models", headers={"Authorization": "Basic abc"}), 401)


def test_malformed_json_is_400(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post(
        "/v1/chat/completions",
        content=b'{"model": "x", "messages": [',
        headers={**auth, "content-type": "application/json"},
    )
    assert "not valid JSON" in _assert_error(r, 400)["message"]


@pytest.mark.parametrize(
    ("messages", "needle"),
    [
        ([], "messages"),
        ([{"role": "wizard", "content": "hi"}], "role"),
        ([{"role": "user", "content": ""}], "empty"),
        ([{"role": "user", "content": "   "}], "empty"),
        (
            [{"role": "user", "content": "hi"}, {"role": "system", "content": "be brief"}],
            "last message",
        ),
        (
            [{"role": "user", "content": "hi"}, {"role": "tool", "content": "22 C"}],
            "tool_call_id",
        ),
        (
            [
                {"role": "user", "content": "hi"},
                {"role": "tool", "tool_call_id": "call_9", "content": "22 C"},
            ],
            "no earlier assistant message made",
        ),
        ([{"role": "assistant", "content": "yo"}], "at least one user message"),
        ([{"role": "user"}], "empty"),
        ("not a list", "messages"),
    ],
)
def test_bad_messages_are_400(
    client: TestClient, auth: dict[str, str], messages: object, needle: str
) -> None:
    r = client.post(
        "/v1/chat/completions", json={"model": MODEL, "messages": messages}, headers=auth
    )
    assert needle in _assert_error(r, 400, "invalid_request")["message"]


def test_unknown_model_is_404_model_not_found(client: TestClient, auth: dict[str, str]) -> None:
    _assert_error(_chat(client, auth, model="gpt-17"), 404, "model_not_found")


def test_out_of_range_parameters_are_400(client: TestClient, auth: dict[str, str]) -> None:
    _assert_error(_chat(client, auth, temperature=5), 400)
    _assert_error(_chat(client, auth, max_tokens=0), 400)
    _assert_error(_chat(client, auth, max_tokens=10_000_000), 400)


def test_oversize_body_is_413(client: TestClient, auth: dict[str, str]) -> None:
    r = _chat(client, auth, messages=[{"role": "user", "content": "x" * 300_000}])
    _assert_error(r, 413, "payload_too_large")


@pytest.mark.parametrize("path", ["/v1/files", "/v1/audio/transcriptions", "/v1/chat/completions"])
def test_an_oversize_chunked_body_is_413(
    client: TestClient, auth: dict[str, str], path: str
) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the size is only known while reading
        if path == "/v1/chat/completions":
            yield b'{"model": "m", "messages": [{"role": "user", "content": "'
            for _ in range(30):
                yield b"x" * 10_000
            yield b'"}]}'
            return
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'
        for _ in range(30):
            yield b"\0" * 10_000
        yield b"\r\n--b--\r\n"

    kind = "application/json" if path.endswith("completions") else "multipart/form-data; boundary=b"
    r = client.post(path, content=chunks(), headers={**auth, "Content-Type": kind})
    _assert_error(r, 413, "payload_too_large")


def test_too_many_messages_is_413(client: TestClient, auth: dict[str, str]) -> None:
    messages = [{"role": "user", "content": "hi"}] * 6
    _assert_error(_chat(client, auth, messages=messages), 413)


def test_unknown_conversation_is_404(client: TestClient, auth: dict[str, str]) -> None:
    _assert_error(_chat(client, auth, conversation_id="conv_nope"), 404, "not_found")


def test_plain_completion_shape(client: TestClient, auth: dict[str, str]) -> None:
    r = _chat(client, auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion"
    message = body["choices"][0]["message"]
    # no source was found, so the canned answer's number is named under it (grounding.py)
    assert (message["role"], message["content"]) == ("assistant", REPLY + note(["330"]))
    assert body["unsupported"] == ["330"]
    assert message["refusal"] is None and message["annotations"] == []
    assert not message.get("tool_calls")
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["citations"] == []


def test_streamed_completion_is_openai_sse_ending_with_done(
    client: TestClient, auth: dict[str, str]
) -> None:
    with client.stream(
        "POST",
        "/v1/chat/completions",
        json={
            "model": MODEL,
            "messages": [{"role": "user", "content": "How tall?"}],
            "stream": True,
        },
        headers=auth,
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == REPLY + note(["330"])
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["unsupported"] == ["330"]


def test_models_and_health(client: TestClient, auth: dict[str, str]) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    models = client.get("/v1/models", headers=auth).json()
    kinds = {m["id"]: m["kind"] for m in models["data"]}
    assert {k: v for k, v in kinds.items() if v != "audio"} == {
        MODEL: "chat",
        "all-MiniLM-L6-v2": "embeddings",
        "sentence-transformers/all-MiniLM-L6-v2": "embeddings",
    }
    assert kinds["whisper-1"] == "audio"  # the name clients send for the audio encoder
    assert all(m["created"] > 1_700_000_000 for m in models["data"])
    one = client.get(f"/v1/models/{MODEL}", headers=auth).json()
    assert (one["id"], one["object"]) == (MODEL, "model")
    missing = client.get("/v1/models/gpt-17", headers=auth)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "model_not_found")
    slashed = client.get("/v1/models/sentence-transformers/all-MiniLM-L6-v2", headers=auth)
    assert slashed.json()["kind"] == "embeddings"


def test_media_without_an_encoder_is_415_naming_supported_types(
    make_settings, auth: dict[str, str]
) -> None:
    settings = make_settings(llm={"provider": "fake"}, plugins={"allow": ["documents"]})
    png = base64.b64encode(_tiny_png()).decode()
    content = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
    ]
    with TestClient(create_app(services=Services.build(settings))) as c:
        r = _chat(c, auth, messages=[{"role": "user", "content": content}])
    error = _assert_error(r, 415, "unsupported_media_type")
    assert "application/pdf" in error["message"]


def test_truncated_image_is_422_without_leaking_paths(
    client: TestClient, auth: dict[str, str]
) -> None:
    png = base64.b64encode(_tiny_png()[:30]).decode()
    content = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
    ]
    error = _assert_error(_chat(client, auth, messages=[{"role": "user", "content": content}]), 422)
    assert "/tmp" not in error["message"] and "blobs" not in error["message"]


def _tiny_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def test_documents_upload_list_get_delete_and_reingest(
    client: TestClient, auth: dict[str, str]
) -> None:
    files = {
        "file": ("notes.md", b"# Notes\n\nThe meeting is on Tuesday at noon.\n", "text/markdown")
    }
    first = client.post("/v1/documents", files=files, headers=auth)
    assert first.status_code == 201, first.text
    doc = first.json()
    assert doc["chunks"] == 1 and doc["media_type"] == "text/markdown"
    assert doc["replaced"] is False
    again = client.post("/v1/documents", files=files, headers=auth).json()
    assert again["id"] == doc["id"]  # stable id: re-ingesting replaces, it does not duplicate
    assert again["replaced"] is True  # and says so: another folder's notes.md would too
    kept = client.post(
        "/v1/documents", files=files, data={"source": "team-b-notes.md"}, headers=auth
    ).json()
    assert kept["id"] != doc["id"] and kept["replaced"] is False  # a source keeps them apart
    client.delete(f"/v1/documents/{kept['id']}", headers=auth)
    services = client.app.state.services  # type: ignore[attr-defined]
    assert services.store.count("default") == 1
    listed = client.get("/v1/documents", headers=auth).json()["data"]
    assert [d["id"] for d in listed] == [doc["id"]]
    assert client.get(f"/v1/documents/{doc['id']}", headers=auth).json()["source"] == "notes.md"
    assert client.delete(f"/v1/documents/{doc['id']}", headers=auth).json()["deleted"] is True
    assert services.store.count("default") == 0
    _assert_error(client.get(f"/v1/documents/{doc['id']}", headers=auth), 404)
    _assert_error(client.delete(f"/v1/documents/{doc['id']}", headers=auth), 404)


@pytest.mark.parametrize(
    ("name", "data", "status"),
    [
        ("empty.txt", b"", 422),
        ("binary.txt", b"\x00\x01\x02\x03" * 100, 415),
        ("fake.pdf", b"%PDF-1.4 this is not really a pdf", 422),
    ],
)
def test_bad_documents_get_clear_4xx(
    client: TestClient, auth: dict[str, str], name: str, data: bytes, status: int
) -> None:
    r = client.post("/v1/documents", files={"file": (name, data, "text/plain")}, headers=auth)
    assert name in _assert_error(r, status)["message"]


def test_legacy_encoded_text_is_read_not_mangled(client: TestClient, auth: dict[str, str]) -> None:
    files = {
        "file": (
            "menu.txt",
            "Un caf\xe9 cr\xe8me, s'il vous pla\xeet.".encode("cp1252"),
            "text/plain",
        )
    }
    assert client.post("/v1/documents", files=files, headers=auth).status_code == 201
    services = client.app.state.services  # type: ignore[attr-defined]
    [hit] = services.store.search("default", "coffee with cream", 1)
    assert "café crème" in hit.text


def test_upload_names_cannot_traverse_paths(client: TestClient, auth: dict[str, str]) -> None:
    files = {"file": ("../../etc/passwd", b"harmless text", "text/plain")}
    doc = client.post("/v1/documents", files=files, headers=auth).json()
    assert doc["source"] == "passwd"


@pytest.mark.parametrize(
    ("part", "where"),
    [
        ({"type": "image_url", "image_url": {"uri": "x"}}, "messages.0.content.1.image_url"),
        ({"type": "image_url"}, "messages.0.content.1.image_url"),
        ({"type": "video", "video": {}}, "part 1 has type 'video'"),
        ({"type": "input_audio", "input_audio": {"data": "x"}}, "input_audio.format"),
    ],
)
def test_a_bad_content_part_is_named(
    client: TestClient, auth: dict[str, str], part: dict, where: str
) -> None:
    content = [{"type": "text", "text": "what is this?"}, part]
    r = client.post("/v1/chat/completions", json=chat_body(content), headers=auth)
    message = _assert_error(r, 400, "invalid_request")["message"]
    assert where in message and "content.str" not in message, message


def test_an_unknown_parameter_is_named(client: TestClient, auth: dict[str, str]) -> None:
    r = client.post("/v1/chat/completions", json=chat_body(functions=[]), headers=auth)
    error = _assert_error(r, 400, "invalid_request")
    assert error["param"] == "functions" and "not supported" in error["message"]


@pytest.mark.parametrize(
    "content", ["\ud800 hi", [{"type": "text", "text": "what is \udfff this?"}]]
)
def test_a_lone_surrogate_is_a_400_not_a_500(
    client: TestClient, auth: dict[str, str], content: object
) -> None:
    # json.dumps writes the lone surrogate as the escape "\ud800": valid JSON, invalid Unicode
    r = client.post(
        "/v1/chat/completions",
        content=json.dumps(chat_body(content)),
        headers={**auth, "Content-Type": "application/json"},
    )
    assert "surrogate" in _assert_error(r, 400, "invalid_request")["message"]
    r = client.post(
        "/v1/embeddings",
        content=json.dumps({"model": "all-MiniLM-L6-v2", "input": ["ok", "\ud800"]}),
        headers={**auth, "Content-Type": "application/json"},
    )
    assert "input[1]" in _assert_error(r, 400, "invalid_request")["message"]


def test_openapi_documents_the_real_error_responses(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    chat = spec["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert {"400", "401", "404", "413", "415", "429", "503"} <= set(chat)
    body = chat["400"]["content"]["application/json"]["schema"]["$ref"]
    assert body == "#/components/schemas/ErrorBody"
    assert "decoded" in chat["422"]["description"]  # corrupt media, not a validation error
