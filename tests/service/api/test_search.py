"""POST /v1/search over a mixed corpus (documents, images, recordings, a video), with the real
encoders: by text, by image and by audio, with filters, links to segments, and tenants apart."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support import media
from tests.support.apps import app_client, app_settings, new_key
from tests.support.settings import AUTH, child_env

pytestmark = [pytest.mark.models, pytest.mark.slow]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media.mixed_corpus(tmp_path_factory.mktemp("search-corpus"))


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, corpus: Path
) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = app_settings(
        tmp_path_factory.mktemp("search"),
        plugins={"allow": ["documents", "vision", "whisper", "video"]},
        workers={"in_process": True, "plugin_modules": []},
    )
    with app_client(settings) as c:
        other = new_key(c, "other")
        for path in sorted(corpus.iterdir()):
            response = c.post(
                "/v1/documents", headers=AUTH, files={"file": (path.name, path.read_bytes())}
            )
            assert response.status_code == 201, response.text
        # the other tenant holds a coffee photo and a note of its own
        mine = [("their-coffee.png", _png(media.photo("coffee"))), ("secret.md", b"# Coffee\n")]
        for name, data in mine:
            response = c.post("/v1/documents", headers=other, files={"file": (name, data)})
            assert response.status_code == 201, response.text
        yield c, other


def _png(img: Any) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def _search(c: TestClient, headers: dict[str, str], **body: Any) -> list[dict[str, Any]]:
    response = c.post("/v1/search", headers=headers, json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["object"] == "list"
    return list(payload["data"])


def test_text_finds_each_modality_first(client: tuple[TestClient, dict[str, str]]) -> None:
    c, _ = client
    for query, expected in [
        ("a cup of coffee", "breakfast.png"),
        ("how much is the marketing budget", "budget.wav"),
        ("when does the Berlin office open", "update.mp4"),
        ("tomatoes and sunlight", "notes.md"),
    ]:
        hits = _search(c, AUTH, query=query, top_k=5)
        assert hits[0]["source"] == expected, (query, [h["source"] for h in hits])
        scores = [h["score"] for h in hits]
        assert scores == sorted(scores, reverse=True)
        assert all(h["source"] not in ("their-coffee.png", "secret.md") for h in hits)


def test_a_video_hit_is_the_segment_with_its_time_and_links(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    c, _ = client
    [hit] = _search(c, AUTH, query="the new office in Berlin", top_k=1, modalities=["video"])
    assert hit["source"] == "update.mp4" and hit["kind"] == "speech"
    assert hit["start"] >= 2.5 and hit["end"] > hit["start"]
    assert "berlin" in hit["snippet"].lower()
    assert hit["content_url"].endswith(f"/content#t={hit['start']:g},{hit['end']:g}")
    segment = c.get(hit["segment_url"], headers=AUTH)
    assert segment.status_code == 200, segment.text
    assert segment.json()["start"] == hit["start"] and "berlin" in segment.json()["text"].lower()
    video = c.get(hit["content_url"].split("#")[0], headers=AUTH)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"
    ranged = c.get(hit["content_url"].split("#")[0], headers={**AUTH, "Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100


def test_an_image_query_finds_the_same_kind_of_picture(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    c, _ = client
    for photo, expected in [("coffee", "breakfast.png"), ("chelsea", "pet.jpg")]:
        img = media.photo(photo)
        # not the indexed bytes: a crop, saved as JPEG
        crop = img.crop((img.width // 8, img.height // 8, img.width * 7 // 8, img.height * 7 // 8))
        buffer = io.BytesIO()
        crop.convert("RGB").save(buffer, format="JPEG", quality=80)
        url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
        hits = _search(c, AUTH, query=[{"type": "image_url", "image_url": {"url": url}}], top_k=3)
        assert hits[0]["source"] == expected, [h["source"] for h in hits]
        assert hits[0]["thumbnail_url"].endswith("/content")


def test_an_audio_query_is_transcribed_then_searched(
    client: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    c, _ = client
    clip = media.speech_wav(tmp_path / "q.wav", "What is our summer holiday plan?")
    part = {
        "type": "input_audio",
        "input_audio": {"data": base64.b64encode(clip.read_bytes()).decode(), "format": "wav"},
    }
    hits = _search(c, AUTH, query=[part], top_k=3)
    assert hits[0]["source"] == "holiday.wav", [h["source"] for h in hits]


def test_filters(client: tuple[TestClient, dict[str, str]]) -> None:
    c, _ = client
    images = _search(c, AUTH, query="a photo", top_k=10, modalities=["image"])
    assert {h["source"] for h in images} == {"breakfast.png", "pet.jpg", "launch.png"}
    late = _search(c, AUTH, query="office", top_k=20, time_range={"start": 3.5})
    assert late and all(h["end"] >= 3.5 for h in late)
    assert {h["modality"] for h in late} <= {"audio", "video"}
    doc_id = images[0]["document_id"]
    only = _search(c, AUTH, query="anything at all", top_k=10, document_ids=[doc_id])
    assert [h["document_id"] for h in only] == [doc_id]
    named = _search(c, AUTH, query="money", top_k=10, sources=["holiday.wav", "notes.md"])
    assert {h["source"] for h in named} <= {"holiday.wav", "notes.md"} and named


def test_tenants_never_see_each_other(client: tuple[TestClient, dict[str, str]]) -> None:
    c, other = client
    hits = _search(c, other, query="a cup of coffee", top_k=10)
    assert {h["source"] for h in hits} == {"their-coffee.png", "secret.md"}
    [mine] = _search(c, AUTH, query="a cup of coffee", top_k=1)
    for path in (
        f"/v1/documents/{mine['document_id']}/content",
        f"/v1/documents/{mine['document_id']}/segments/0",
    ):
        assert c.get(path, headers=other).status_code == 404
        assert c.get(path, headers=AUTH).status_code == 200


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"query": ""}, "query"),
        ({"query": []}, "query"),
        ({"query": "x", "top_k": 0}, "top_k"),
        ({"query": "x", "modalities": ["smell"]}, "modalities"),
        ({"query": "x", "time_range": {"start": 9, "end": 1}}, "time_range"),
        ({"query": "x", "rerank": True}, "rerank"),
        (
            {
                "query": [
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
                    {"type": "text", "text": "and words"},
                ]
            },
            "query",
        ),
    ],
)
def test_bad_requests_name_the_parameter(
    client: tuple[TestClient, dict[str, str]], body: dict[str, Any], param: str
) -> None:
    c, _ = client
    response = c.post("/v1/search", headers=AUTH, json=body)
    assert response.status_code == 400, response.text
    assert param in (response.json()["error"]["param"] or ""), response.json()


def test_a_text_document_has_no_content_to_serve(
    client: tuple[TestClient, dict[str, str]],
) -> None:
    c, _ = client
    [hit] = _search(c, AUTH, query="tomatoes", top_k=1)
    assert "content_url" not in hit
    response = c.get(f"/v1/documents/{hit['document_id']}/content", headers=AUTH)
    assert response.status_code == 404 and "text document" in response.json()["error"]["message"]


def test_the_cli_searches_by_text_and_by_file(
    tmp_path: Path, corpus: Path, coffee_jpg: Path
) -> None:
    env = child_env(tmp_path / "data", ASSISTANT_WORKERS__IN_PROCESS="true")
    cli = [sys.executable, "-m", "assistant.cli"]
    files = [str(corpus / n) for n in ("breakfast.png", "launch.png", "notes.md")]
    subprocess.run([*cli, "ingest", *files], env=env, check=True, timeout=300)
    text = subprocess.run(
        [*cli, "search", "tomatoes in the sun", "--top-k", "2"],
        env=env, check=True, timeout=300, capture_output=True, text=True,
    )  # fmt: skip
    assert text.stdout.splitlines()[0].split()[1].endswith("/notes.md"), text.stdout
    by_file = subprocess.run(
        [*cli, "search", "--file", str(coffee_jpg), "--modality", "image", "--json"],
        env=env, check=True, timeout=300, capture_output=True, text=True,
    )  # fmt: skip
    hits = json.loads(by_file.stdout)
    assert [Path(h["source"]).name for h in hits] == ["breakfast.png", "launch.png"], hits
    refused = subprocess.run(
        [*cli, "search", "x", "--file", str(coffee_jpg)], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 2 and "not both" in refused.stderr
